/// Load-time graph rewrites that save a pass over memory.
enum GraphFusion {
    /// Folds a node into the node producing its input when the producer can do its work in its own output loop
    /// (Gemm + Relu, Conv + Relu + MaxPool), the intermediate value has no other reader, and it is not a graph
    /// output. A fused node can absorb the next one in turn.
    static func fuse(_ nodes: [PlannedNode], graphOutputs: Set<Int>) -> [PlannedNode] {
        var readers: [Int: Int] = [:]
        for node in nodes {
            for input in node.inputs where input >= 0 { readers[input, default: 0] += 1 }
        }
        var result: [PlannedNode] = []
        for node in nodes {
            if let producer = result.last, producer.outputs.count == 1, let value = producer.outputs.first,
               readers[value] == 1, !graphOutputs.contains(value), node.inputs == [value],
               let kernel = fused(producer.kernel, then: node) {
                result[result.count - 1] = PlannedNode(
                    opType: "\(producer.opType)+\(node.opType)", label: "\(producer.label)+\(node.label)",
                    kernel: kernel, inputs: producer.inputs, outputs: node.outputs)
            } else {
                result.append(node)
            }
        }
        return result
    }

    /// `producer` also doing `consumer`'s work, or nil when it cannot.
    private static func fused(_ producer: Kernel, then consumer: PlannedNode) -> Kernel? {
        if let activation = Activation(rawValue: consumer.opType) {
            return producer.fusing(activation)
        }
        if let conv = producer as? ConvKernel, let pool = consumer.kernel as? MaxPoolKernel,
           consumer.outputs.count == 1 {
            return conv.fusing(pool)
        }
        return nil
    }
}
