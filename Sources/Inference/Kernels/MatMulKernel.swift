/// MatMul with numpy semantics: 1-D operands promoted and squeezed back, batch dimensions broadcast; float32 and
/// float64 on BLAS GEMM.
///
/// Neighbouring nodes fold in at load (`GraphFusion`): a Transpose of B's last two axes (B read transposed), a Div or
/// Mul by a constant scalar (the product's alpha), an Add of a constant row of N (a bias) and an activation, applied
/// in that order in one pass over the output.
struct MatMulKernel: ActivationFusing, HoldsWeights, DeclaresElementTypes {
    var activation: Activation?
    /// The product is scaled by this (a fused Div or Mul by a constant).
    var alpha: Float = 1
    /// Added to each row of the product: a fused Add of a constant [N] (float32).
    var bias: Tensor?
    var heldWeightBytes: Int { bias?.byteCount ?? 0 }

    /// The rank B had before a fused Transpose swapped its last two axes; nil when B is read as given.
    var transposedRank: Int?

    init(_ node: NodeDefinition) throws {
        try node.expectInputs(2)
    }

    /// This product scaled by `factor`; nil once a bias or activation is fused (they come after the scale).
    func scaled(by factor: Float) -> Kernel? {
        guard activation == nil, bias == nil, factor.isFinite else { return nil }
        var fused = self
        fused.alpha *= factor
        return fused
    }

    /// This product plus `bias` on every row; nil once an activation or bias is fused.
    func adding(bias: Tensor) -> Kernel? {
        guard activation == nil, self.bias == nil, bias.elementType == .float32 else { return nil }
        var fused = self
        fused.bias = bias
        return fused
    }

    /// This product of A by the transpose (last two axes) of a rank-`rank` B.
    func transposingB(rank: Int) -> Kernel? {
        guard transposedRank == nil, rank >= 2 else { return nil }
        var fused = self
        fused.transposedRank = rank
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
        if let transposedRank, b.rank != transposedRank {
            throw InferenceError.invalidInput("Transpose perm of rank \(transposedRank) does not fit rank \(b.rank)")
        }
        let transposeB = transposedRank != nil
        // Promote 1-D operands to matrices: [K] is [1, K] on the left and [K, 1] on the right.
        let aShape = a.rank == 1 ? [1, a.shape[0]] : a.shape
        var bShape = b.rank == 1 ? [b.shape[0], 1] : b.shape
        if transposeB { bShape.swapAt(bShape.count - 1, bShape.count - 2) }
        let (m, k) = (aShape[aShape.count - 2], aShape[aShape.count - 1])
        let (kb, n) = (bShape[bShape.count - 2], bShape[bShape.count - 1])
        guard k == kb else {
            throw InferenceError.invalidInput("MatMul inner dimensions differ: \(a.shape) and \(bShape)")
        }
        if let bias, bias.count != n {
            throw InferenceError.invalidInput("Add of a [\(bias.count)] bias does not fit the MatMul's \(n) columns")
        }
        // One B matrix (the usual weights) needs no broadcast: A's batch dimensions are the output's.
        let batch = bShape.count == 2 ? nil : try Broadcast([Array(aShape.dropLast(2)), Array(bShape.dropLast(2))])
        var outShape = batch?.resultShape ?? Array(aShape.dropLast(2))
        if a.rank > 1 { outShape.append(m) }
        if b.rank > 1 || transposeB { outShape.append(n) }
        let y = try io.output(0, a.elementType, outShape)
        guard y.count > 0 else { return }
        let dims = Dimensions(m: m, n: n, k: k, aShape: aShape, bShape: bShape, transposeB: transposeB)
        if a.elementType == .float64 {
            guard activation == nil, bias == nil else {
                throw InferenceError.invalidInput("\(activation?.opType ?? "Add") after MatMul takes float32, got float64")
            }
            Self.multiply(a, b, y, dims, batch, alpha: Double(alpha))
        } else {
            Self.multiply(a, b, y, dims, batch, alpha: alpha)
            let out = y.mutableElements(as: Float.self)
            if let bias {
                Activation.apply(
                    activation, rows: y.count / n, width: n, bias: bias.elements(as: Float.self).baseAddress!,
                    to: out.baseAddress!)
            } else {
                activation?.apply(out)
            }
        }
    }

    private struct Dimensions {
        let m: Int, n: Int, k: Int
        /// The operands' shapes as matrices (1-D promoted), B's as op(B).
        let aShape: [Int], bShape: [Int]
        let transposeB: Bool
    }

    private static func multiply<T: GEMMScalar>(
        _ a: Tensor, _ b: Tensor, _ y: Tensor, _ dims: Dimensions, _ batch: Broadcast?, alpha: T
    ) {
        let (m, n, k) = (dims.m, dims.n, dims.k)
        let out = y.mutableElements(as: T.self)
        let pa = a.elements(as: T.self).baseAddress!
        let pb = b.elements(as: T.self).baseAddress!
        let py = out.baseAddress!
        let ldb = dims.transposeB ? k : n
        if k == 0 {
            out.update(repeating: 0)
        } else if let batch {
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
                    T.gemm(m: m, n: n, k: k, alpha: alpha, a: pa + pairs[index].a * aMatrix, lda: k,
                           b: pb + pairs[index].b * bMatrix, ldb: ldb, transposeB: dims.transposeB,
                           c: py + index * yMatrix, ldc: n)
                }
            }
        } else {
            // B is one matrix: every batch of A stacks into one tall M·batch × K matrix, a single GEMM.
            let rows = dims.aShape.dropLast().reduce(1, *)
            T.gemm(m: rows, n: n, k: k, alpha: alpha, a: pa, lda: k, b: pb, ldb: ldb, transposeB: dims.transposeB,
                   c: py, ldc: n)
        }
    }
}

extension MatMulKernel {
    /// A and B: float32 or float64 (both alike, checked at run time).
    func acceptedTypes(input position: Int) -> Set<ElementType>? { DeclaredTypes.floats }

    var alikeInputs: Range<Int>? { 0..<2 }
}
