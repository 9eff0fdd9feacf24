/// MatMul with numpy semantics: 1-D operands promoted and squeezed back, batch dimensions broadcast; float32 and
/// float64 on BLAS GEMM.
struct MatMulKernel: Kernel {
    var activation: Activation?

    init(_ node: NodeDefinition) throws {
        try node.expectInputs(2)
    }

    func fusing(_ activation: Activation) -> Kernel? {
        guard self.activation == nil else { return nil }
        var fused = self
        fused.activation = activation
        return fused
    }

    func run(_ io: NodeIO) throws {
        let a = try io.requiredInput(0)
        let b = try io.requiredInput(1)
        guard a.elementType == b.elementType, a.elementType == .float32 || a.elementType == .float64 else {
            throw InferenceError.invalidInput("MatMul takes float32 or float64, got \(a.elementType) and \(b.elementType)")
        }
        guard a.rank >= 1, b.rank >= 1 else {
            throw InferenceError.invalidInput("MatMul takes tensors of rank 1 or more, got \(a.shape) and \(b.shape)")
        }
        // Promote 1-D operands to matrices: [K] is [1, K] on the left and [K, 1] on the right.
        let aShape = a.rank == 1 ? [1, a.shape[0]] : a.shape
        let bShape = b.rank == 1 ? [b.shape[0], 1] : b.shape
        let (m, k) = (aShape[aShape.count - 2], aShape[aShape.count - 1])
        let (kb, n) = (bShape[bShape.count - 2], bShape[bShape.count - 1])
        guard k == kb else {
            throw InferenceError.invalidInput("MatMul inner dimensions differ: \(a.shape) and \(b.shape)")
        }
        let batch = try Broadcast([Array(aShape.dropLast(2)), Array(bShape.dropLast(2))])
        var outShape = batch.resultShape
        if a.rank > 1 { outShape.append(m) }
        if b.rank > 1 { outShape.append(n) }
        let y = try io.output(0, a.elementType, outShape)
        guard y.count > 0 else { return }
        let dims = (m: m, n: n, k: k, aShape: aShape, bShape: bShape)
        if a.elementType == .float64 {
            guard activation == nil else {
                throw InferenceError.invalidInput("\(activation!.opType) takes float32, got float64")
            }
            Self.multiply(Double.self, a, b, y, dims, batch)
        } else {
            Self.multiply(Float.self, a, b, y, dims, batch)
            activation?.apply(y.mutableElements(as: Float.self))
        }
    }

    private static func multiply<T: GEMMScalar>(
        _: T.Type, _ a: Tensor, _ b: Tensor, _ y: Tensor,
        _ dims: (m: Int, n: Int, k: Int, aShape: [Int], bShape: [Int]), _ batch: Broadcast
    ) {
        let (m, n, k) = (dims.m, dims.n, dims.k)
        let out = y.mutableElements(as: T.self)
        let pa = a.elements(as: T.self).baseAddress!
        let pb = b.elements(as: T.self).baseAddress!
        let py = out.baseAddress!
        if k == 0 {
            out.update(repeating: 0)
        } else if dims.bShape.count == 2 {
            // B is one matrix: every batch of A stacks into one tall M·batch × K matrix, a single GEMM.
            let rows = dims.aShape.dropLast().reduce(1, *)
            T.gemm(m: rows, n: n, k: k, a: pa, lda: k, b: pb, ldb: n, c: py, ldc: n)
        } else {
            let (aMatrix, bMatrix, yMatrix) = (m * k, k * n, m * n)
            // The matrices of A and B each product reads, in output order.
            var pairs: [(a: Int, b: Int)] = []
            pairs.reserveCapacity(batch.resultShape.elementCount)
            batch.forEachRow { _, offsets, count, steps in
                for i in 0..<count { pairs.append((offsets[0] + i * steps[0], offsets[1] + i * steps[1])) }
            }
            // Products too small to split themselves are spread over the threads whole.
            let perThread = m * n * k >= BLAS.parallelWork ? pairs.count : Swift.max(1, BLAS.parallelWork / Swift.max(m * n * k, 1))
            Parallelism.forEachChunk(pairs.count, grain: perThread) { _, range in
                for index in range {
                    T.gemm(m: m, n: n, k: k, a: pa + pairs[index].a * aMatrix, lda: k,
                           b: pb + pairs[index].b * bMatrix, ldb: n, c: py + index * yMatrix, ldc: n)
                }
            }
        }
    }
}
