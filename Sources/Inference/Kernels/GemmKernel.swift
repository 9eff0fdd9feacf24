/// Gemm: Y = alpha · op(A) · op(B) + beta · C, with C broadcast to M×N, on `cblas_sgemm`; optionally followed by a
/// fused activation.
struct GemmKernel: ActivationFusing, HoldsWeights, DeclaresElementTypes {
    let alpha: Float
    let beta: Float
    let transposeA: Bool
    private(set) var transposeB: Bool
    var activation: Activation?
    /// C must be M×N (opset < 7 without `broadcast`).
    let exactC: Bool
    /// B transposed once at load, used instead of input 1 when B is a constant given transposed (transB = 1, the
    /// usual [out, in] layout of a dense layer's weights): BLAS multiplies an untransposed B faster.
    private(set) var weights: Tensor?

    var heldWeightBytes: Int { weights?.byteCount ?? 0 }

    init(_ node: NodeDefinition) throws {
        try node.expectInputs(2, 3)
        alpha = try node.attributes.float("alpha", default: 1)
        beta = try node.attributes.float("beta", default: 1)
        transposeA = try node.attributes.int("transA", default: 0) != 0
        transposeB = try node.attributes.int("transB", default: 0) != 0
        // Before opset 7, C broadcasts only with `broadcast` = 1; otherwise it must already be M×N.
        exactC = try node.opsetVersion < LegacyOpsets.modern && node.attributes.int("broadcast", default: 0) == 0
    }

    /// This Gemm with its constant B (`transB = 1`) stored transposed; nil when B is not given transposed or not
    /// a 2-D float32 tensor.
    func transposingWeights(_ b: Tensor) -> GemmKernel? {
        guard transposeB, weights == nil, b.elementType == .float32, b.rank == 2 else { return nil }
        let (rows, cols) = (b.shape[0], b.shape[1])
        var values = [Float](repeating: 0, count: b.count)
        let source = b.elements(as: Float.self)
        for r in 0..<rows {
            for c in 0..<cols { values[c * rows + r] = source[r * cols + c] }
        }
        var prepared = self
        prepared.weights = Tensor(float32: values, shape: [cols, rows])
        prepared.transposeB = false
        return prepared
    }

    func run(_ io: NodeIO) throws {
        let a = try io.requiredInput(0)
        let b = try weights ?? io.requiredInput(1)
        try checkType(a, at: 0, "Gemm")
        try checkType(b, at: 1, "Gemm")
        guard a.rank == 2, b.rank == 2 else {
            throw InferenceError.invalidInput("Gemm takes 2-D A and B, got \(a.shape) and \(b.shape)")
        }
        let (m, k) = transposeA ? (a.shape[1], a.shape[0]) : (a.shape[0], a.shape[1])
        let (kb, n) = transposeB ? (b.shape[1], b.shape[0]) : (b.shape[0], b.shape[1])
        guard k == kb else {
            throw InferenceError.invalidInput("Gemm inner dimensions differ: A \(a.shape), B \(b.shape)")
        }
        let y = try io.output(0, .float32, [m, n])
        let out = y.mutableElements(as: Float.self)
        var blasBeta: Float = 0
        if let c = io.input(2), beta != 0 {
            try fill(out, m: m, n: n, with: c)
            blasBeta = beta
        }
        if m > 0 && n > 0 {
            if k > 0 {
                BLAS.sgemm(
                    transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, alpha: alpha,
                    a: a.elements(as: Float.self).baseAddress!, lda: a.shape[1],
                    b: b.elements(as: Float.self).baseAddress!, ldb: b.shape[1],
                    beta: blasBeta, c: out.baseAddress!, ldc: n)
            } else if blasBeta == 0 {
                out.update(repeating: 0)
            } else {
                for i in out.indices { out[i] *= blasBeta }
            }
        }
        activation?.apply(out)
    }

    /// Writes C broadcast (unidirectionally) to M×N into `out`.
    private func fill(_ out: UnsafeMutableBufferPointer<Float>, m: Int, n: Int, with c: Tensor) throws {
        try checkType(c, at: 2, "Gemm")
        if exactC && c.shape != [m, n] {
            throw InferenceError.invalidInput("Gemm C of shape \(c.shape) must be [\(m), \(n)] without broadcast (opset < 7)")
        }
        let source = c.elements(as: Float.self).baseAddress!
        let target = out.baseAddress!
        // The usual biases, a row of N (or a full M×N) or one scalar, without building a general broadcast.
        if c.count == n && (c.rank == 1 || (c.rank == 2 && c.shape[0] == 1)) {
            for row in 0..<m { (target + row * n).update(from: source, count: n) }
            return
        }
        if c.count == 1 && c.rank <= 2 {
            target.update(repeating: source[0], count: m * n)
            return
        }
        if c.rank == 2 && c.shape[0] == m && c.shape[1] == n {
            target.update(from: source, count: m * n)
            return
        }
        let broadcast = try Broadcast([[m, n], c.shape])
        guard broadcast.resultShape == [m, n] else {
            throw InferenceError.invalidInput("Gemm C of shape \(c.shape) does not broadcast to [\(m), \(n)]")
        }
        broadcast.forEachRow { offset, offsets, count, steps in
            let from = source + offsets[1], to = target + offset
            if steps[1] == 0 {
                to.update(repeating: from[0], count: count)
            } else {
                to.update(from: from, count: count)
            }
        }
    }
}

extension GemmKernel {
    /// A, B and C: float32.
    func acceptedTypes(input position: Int) -> Set<ElementType>? { DeclaredTypes.float32 }
}
