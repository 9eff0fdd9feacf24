/// Load-time graph rewrites that save a pass over memory.
enum GraphFusion {
    /// Folds a node into the node before it when that producer can do the consumer's work in its own output loop,
    /// the value between them has no other reader and is not a graph output; a fused node can absorb the next one in
    /// turn. The folds: a BatchNormalization with constant statistics into a Conv with constant weights; an
    /// activation (Gelu included) into Gemm, MatMul, Conv or element-wise arithmetic (a residual Add); MaxPool into
    /// Conv; into MatMul a Div or Mul by a constant scalar, an Add of a constant row of N (a bias), and a Transpose of
    /// its B input that swaps the last two axes. `constants` holds the values known at load (initializers and Constant nodes).
    static func fuse(_ nodes: [PlannedNode], graphOutputs: Set<Int>, constants: [Int: Tensor]) -> [PlannedNode] {
        var readers: [Int: Int] = [:]
        for node in nodes {
            for input in node.inputs where input >= 0 { readers[input, default: 0] += 1 }
        }
        var result: [PlannedNode] = []
        for node in nodes {
            if let producer = result.last, producer.outputs.count == 1, let value = producer.outputs.first,
               readers[value] == 1, !graphOutputs.contains(value),
               let fused = fused(producer, then: node, through: value, constants: constants) {
                result[result.count - 1] = fused
            } else {
                result.append(node)
            }
        }
        return result
    }

    /// Gives kernels their constant weights in the layout they multiply fastest (Gemm's B given transposed, an integer
    /// product's B shifted by its zero points); the kernel then holds them and the node no longer reads the constant.
    static func prepareWeights(_ nodes: [PlannedNode], constants: [Int: Tensor]) -> [PlannedNode] {
        nodes.map { node in
            var inputs = node.inputs
            if let gemm = node.kernel as? GemmKernel, inputs.count >= 2, let b = constants[inputs[1]],
               let prepared = gemm.transposingWeights(b) {
                inputs[1] = -1
                return PlannedNode(opType: node.opType, label: node.label, kernel: prepared, inputs: inputs, outputs: node.outputs)
            }
            // Integer matrix products: constant B and B zero point shifted once (both inputs then unread).
            if let product = node.kernel as? IntegerMatMulKernel, inputs.count > product.bInput,
               let b = constants[inputs[product.bInput]] {
                let zeroIndex = inputs.count > product.bZeroInput ? inputs[product.bZeroInput] : -1
                guard zeroIndex < 0 || constants[zeroIndex] != nil,
                      let prepared = product.preparingB(b, zero: zeroIndex < 0 ? nil : constants[zeroIndex])
                else { return node }
                inputs[product.bInput] = -1
                if zeroIndex >= 0 { inputs[product.bZeroInput] = -1 }
                return PlannedNode(opType: node.opType, label: node.label, kernel: prepared, inputs: inputs, outputs: node.outputs)
            }
            return node
        }
    }

    /// `producer` and `consumer` as one node, or nil when they do not fold.
    private static func fused(
        _ producer: PlannedNode, then consumer: PlannedNode, through value: Int, constants: [Int: Tensor]
    ) -> PlannedNode? {
        func merged(_ kernel: Kernel?, inputs: [Int]) -> PlannedNode? {
            kernel.map {
                PlannedNode(
                    opType: "\(producer.opType)+\(consumer.opType)", label: "\(producer.label)+\(consumer.label)",
                    kernel: $0, inputs: inputs, outputs: consumer.outputs)
            }
        }
        // Transpose → MatMul reading it as B.
        if let transpose = producer.kernel as? TransposeKernel, let matmul = consumer.kernel as? MatMulKernel,
           consumer.inputs.count == 2, consumer.inputs[1] == value, consumer.inputs[0] != value,
           let rank = transpose.swapsLastTwoAxes {
            return merged(matmul.transposingB(rank: rank), inputs: [consumer.inputs[0]] + producer.inputs)
        }
        // Conv → BatchNormalization with constant weights and statistics: the normalization folded into W and B.
        if let conv = producer.kernel as? ConvKernel, let norm = consumer.kernel as? BatchNormalizationKernel {
            let hasBias = producer.inputs.count > 2 && producer.inputs[2] >= 0
            let bias = hasBias ? constants[producer.inputs[2]] : nil
            guard consumer.inputs.count == 5, consumer.inputs[0] == value, consumer.outputs.count == 1,
                  producer.inputs.count >= 2, let w = constants[producer.inputs[1]], !hasBias || bias != nil
            else { return nil }
            let statistics = consumer.inputs[1...].compactMap { constants[$0] }
            return merged(conv.folding(norm, weights: w, bias: bias, statistics), inputs: [producer.inputs[0]])
        }
        // Every other fold keeps the producer's inputs and takes only `value` from it, other inputs constant.
        let others = consumer.inputs.filter { $0 != value }
        guard consumer.inputs.count - others.count == 1 else { return nil }
        let constant = others.count == 1 ? constants[others[0]] : nil
        guard others.isEmpty || constant != nil else { return nil }

        if others.isEmpty, let activation = activation(of: consumer) {
            return merged(producer.kernel.fusing(activation), inputs: producer.inputs)
        }
        if others.isEmpty, let conv = producer.kernel as? ConvKernel, let pool = consumer.kernel as? MaxPoolKernel,
           consumer.outputs.count == 1 {
            return merged(conv.fusing(pool), inputs: producer.inputs)
        }
        guard let matmul = producer.kernel as? MatMulKernel, let constant,
              let binary = consumer.kernel as? BinaryKernel, constant.elementType == .float32
        else { return nil }
        switch binary.op {
        case .div where constant.rank == 0 && consumer.inputs[0] == value:
            return merged(matmul.scaled(by: 1 / constant.elements(as: Float.self)[0]), inputs: producer.inputs)
        case .mul where constant.rank == 0:
            return merged(matmul.scaled(by: constant.elements(as: Float.self)[0]), inputs: producer.inputs)
        case .add where constant.rank == 1:
            // The bias must be a row of N: B has to be known here to be sure the Add does not broadcast further.
            guard producer.inputs.count == 2, let b = constants[producer.inputs[1]], b.rank >= 2,
                  constant.count == b.shape[b.rank - (matmul.transposedRank == nil ? 1 : 2)]
            else { return nil }
            return merged(matmul.adding(bias: constant), inputs: producer.inputs)
        default:
            return nil
        }
    }

    /// The activation a node applies, when it is one a producer can fuse.
    private static func activation(of node: PlannedNode) -> Activation? {
        if let kernel = node.kernel as? ActivationKernel { return kernel.activation }
        if let unary = node.kernel as? UnaryKernel, unary.op == .gelu, !unary.tanhApproximation { return .gelu }
        return nil
    }
}
