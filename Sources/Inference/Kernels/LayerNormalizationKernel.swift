/// LayerNormalization (opset 17) and RMSNormalization (opset 23) on float32: each row over the axes from `axis` on
/// is normalized to zero mean and unit variance (RMS: divided by its root mean square), then scaled and shifted (Scale
/// and, LayerNormalization only, optional B broadcast to the normalized shape). LayerNormalization's optional Mean
/// and InvStdDev outputs have the input's leading dims and 1 for the normalized ones.
struct LayerNormalizationKernel: Kernel, DeclaresElementTypes {
    /// Subtracts each row's mean (LayerNormalization); RMSNormalization does not.
    let centered: Bool
    let axis: Int
    let epsilon: Float

    init(centered: Bool, _ node: NodeDefinition) throws {
        self.centered = centered
        try node.expectInputs(2, centered ? 3 : 2)
        axis = try node.attributes.int("axis", default: -1)
        epsilon = try node.attributes.float("epsilon", default: 1e-5)
        let stash = try node.attributes.int("stash_type", default: 1)
        guard stash == 1 else { throw InferenceError.unsupported(["\(node.opType) stash_type \(stash)"]) }
    }

    func run(_ io: NodeIO) throws {
        let x = try io.requiredInput(0)
        let scale = try io.requiredInput(1)
        let bias = io.input(2)
        try checkTypes([x, scale, bias], "LayerNormalization")
        let axis = try normalizedAxis(self.axis, rank: x.rank)
        let normalizedShape = Array(x.shape[axis...])
        let rows = x.shape[..<axis].reduce(1, *), n = normalizedShape.elementCount
        let y = try io.output(0, .float32, x.shape)
        let statsShape = Array(x.shape[..<axis]) + [Int](repeating: 1, count: x.rank - axis)
        let outputs = io.outputIndexes.count
        let meanOut = outputs > 1 ? try io.output(1, .float32, statsShape) : nil
        let invOut = outputs > 2 ? try io.output(2, .float32, statsShape) : nil
        guard x.count > 0 else { return }

        // Scale and bias as full rows of n; expanded into a per-run buffer only when they broadcast.
        var expanded: [Tensor] = []
        func row(_ t: Tensor) throws -> UnsafePointer<Float> {
            if t.count == n { return t.elements(as: Float.self).baseAddress! }
            guard t.rank <= normalizedShape.count, try Broadcast([normalizedShape, t.shape]).resultShape == normalizedShape else {
                throw InferenceError.invalidInput("LayerNormalization scale/bias \(t.shape) do not broadcast to \(normalizedShape)")
            }
            let full = Tensor(elementType: .float32, shape: normalizedShape, storage: TensorStorage(byteCapacity: n * 4))
            let padded = [Int](repeating: 1, count: normalizedShape.count - t.rank) + t.shape
            let own = padded.strides
            StridedCopy.copy(from: t, offset: 0, strides: (0..<padded.count).map { padded[$0] == 1 ? 0 : own[$0] },
                             shape: normalizedShape, to: full)
            expanded.append(full)
            return full.elements(as: Float.self).baseAddress!
        }
        let gamma = try row(scale)
        let beta = try bias.map(row)
        let src = x.elements(as: Float.self).baseAddress!, dst = y.mutableElements(as: Float.self).baseAddress!
        let meanPointer = meanOut?.mutableElements(as: Float.self).baseAddress
        let invPointer = invOut?.mutableElements(as: Float.self).baseAddress
        let count = Float(n)
        Parallelism.forEachChunk(rows, grain: Swift.max(1, 8192 / Swift.max(n, 1))) { _, range in
            for r in range {
                let xr = src + r * n, yr = dst + r * n
                let mean = centered ? VectorLoop.sum(xr, n) / count : 0
                let inv = 1 / (VectorLoop.sumOfSquares(xr, n, around: mean) / count + epsilon).squareRoot()
                let (m, s) = (FloatVector(repeating: mean), FloatVector(repeating: inv))
                if let beta {
                    VectorLoop.map(xr, gamma, beta, yr, n) { x, g, b in FastMath.fma((x - m) * s, g, b) }
                } else {
                    VectorLoop.map(xr, gamma, yr, n) { x, g in (x - m) * s * g }
                }
                meanPointer?[r] = mean
                invPointer?[r] = inv
            }
        }
        withExtendedLifetime(expanded) {}
    }
}

extension LayerNormalizationKernel {
    /// X, scale and bias: float32.
    func acceptedTypes(input position: Int) -> Set<ElementType>? { DeclaredTypes.float32 }
}
