/// MatMul with numpy semantics: 1-D operands promoted and squeezed back, batch dimensions broadcast; float32 on
/// `cblas_sgemm`.
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
        guard a.elementType == .float32, b.elementType == .float32 else {
            throw InferenceError.invalidInput("MatMul takes float32, got \(a.elementType) and \(b.elementType)")
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
        let y = try io.output(0, .float32, outShape)
        let out = y.mutableElements(as: Float.self)
        guard out.count > 0 else { return }

        let pa = a.elements(as: Float.self).baseAddress!
        let pb = b.elements(as: Float.self).baseAddress!
        let py = out.baseAddress!
        if k == 0 {
            out.update(repeating: 0)
        } else if bShape.count == 2 {
            // B is one matrix: every batch of A stacks into one tall M·batch × K matrix, a single sgemm.
            let rows = aShape.dropLast().reduce(1, *)
            BLAS.sgemm(transposeA: false, transposeB: false, m: rows, n: n, k: k, alpha: 1,
                       a: pa, lda: k, b: pb, ldb: n, beta: 0, c: py, ldc: n)
        } else {
            let (aMatrix, bMatrix, yMatrix) = (m * k, k * n, m * n)
            var batchIndex = 0
            batch.forEachRow { _, offsets, count, steps in
                for i in 0..<count {
                    BLAS.sgemm(transposeA: false, transposeB: false, m: m, n: n, k: k, alpha: 1,
                               a: pa + (offsets[0] + i * steps[0]) * aMatrix, lda: k,
                               b: pb + (offsets[1] + i * steps[1]) * bMatrix, ldb: n,
                               beta: 0, c: py + batchIndex * yMatrix, ldc: n)
                    batchIndex += 1
                }
            }
        }
        activation?.apply(out)
    }
}
