/// Load-time graph rewrites that save a pass over memory.
enum GraphFusion {
    /// Folds an activation node into the node producing its input when that producer can apply it in its own output
    /// loop (e.g. Gemm + Relu), the intermediate value has no other reader, and it is not a graph output.
    static func fuseActivations(_ nodes: [PlannedNode], graphOutputs: Set<Int>) -> [PlannedNode] {
        var readers: [Int: Int] = [:]
        for node in nodes {
            for input in node.inputs where input >= 0 { readers[input, default: 0] += 1 }
        }
        var result: [PlannedNode] = []
        var skip = Set<Int>()
        for (position, node) in nodes.enumerated() {
            if skip.contains(position) { continue }
            guard node.outputs.count == 1, position + 1 < nodes.count,
                  let output = node.outputs.first,
                  readers[output] == 1, !graphOutputs.contains(output)
            else {
                result.append(node)
                continue
            }
            let next = nodes[position + 1]
            guard next.inputs == [output], let activation = Activation(rawValue: next.opType),
                  let fused = node.kernel.fusing(activation)
            else {
                result.append(node)
                continue
            }
            result.append(PlannedNode(
                opType: "\(node.opType)+\(next.opType)", label: "\(node.label)+\(next.label)", kernel: fused,
                inputs: node.inputs, outputs: next.outputs))
            skip.insert(position + 1)
        }
        return result
    }
}
