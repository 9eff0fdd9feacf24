/// MatMulInteger and QLinearMatMul on int8/uint8 matrices [..., M, K] × [..., K, N] (batch axes broadcast): products
/// of (a − a_zero_point)(b − b_zero_point) summed in int32. MatMulInteger returns the int32 sums; QLinearMatMul
/// requantizes them: saturate(rint(sum · (a_scale · b_scale / y_scale)) + y_zero_point). Zero points and scales are
/// per tensor, or per row of A / per column of B.
///
/// The sums come from one BLAS product of the zero-point-shifted operands, sgemm when every partial sum is an integer
/// float32 holds exactly, else dgemm (`QuantizedType.exactInFloat`). A 2-D B (the weights of a dense layer) is one
/// matrix for all of A's rows, which then form a single product; when B and its zero point are constants the shifted
/// B is made once at load (`preparingB`).
struct IntegerMatMulKernel: Kernel, HoldsWeights {
    /// QLinearMatMul (true) or MatMulInteger.
    let requantizes: Bool
    /// B minus its zero points as a row-major K × N float matrix, made at load from constants.
    let preparedB: ShiftedWeights?

    struct ShiftedWeights: Sendable {
        let values: [Float]
        let rows: Int
        let columns: Int
        /// The largest |value|.
        let bound: Float
        let elementType: ElementType
    }

    var opType: String { requantizes ? "QLinearMatMul" : "MatMulInteger" }
    /// Input positions of B and its zero point.
    var bInput: Int { requantizes ? 3 : 1 }
    var bZeroInput: Int { requantizes ? 5 : 3 }

    init(requantizes: Bool, _ node: NodeDefinition) throws {
        if requantizes { try node.expectInputs(8) } else { try node.expectInputs(2, 4) }
        self.requantizes = requantizes
        preparedB = nil
    }

    private init(requantizes: Bool, preparedB: ShiftedWeights) {
        self.requantizes = requantizes
        self.preparedB = preparedB
    }

    var heldWeightBytes: Int { (preparedB?.values.count ?? 0) * MemoryLayout<Float>.stride }

    /// This kernel with constant B (2-D, int8 or uint8) and B zero point (nil: none) shifted once; nil when they do
    /// not qualify (the run then reads and checks them as inputs).
    func preparingB(_ b: Tensor, zero: Tensor?) -> IntegerMatMulKernel? {
        guard b.rank == 2, QuantizedType.range(b.elementType) != nil else { return nil }
        let (rows, columns) = (b.shape[0], b.shape[1])
        if let zero, zero.elementType != b.elementType || zero.rank > 1 || (zero.count != 1 && zero.count != columns) {
            return nil
        }
        var values = [Float](repeating: 0, count: rows * columns)
        values.withUnsafeMutableBufferPointer { target in
            for row in 0..<rows {
                QuantizedType.shifted(b, from: row * columns, count: columns, by: 0, into: target.baseAddress! + row * columns)
            }
            if let zero {
                for index in target.indices {
                    target[index] -= Float(QuantizedType.value(zero, zero.count == 1 ? 0 : index % columns))
                }
            }
        }
        let bound = values.reduce(Float(0)) { Swift.max($0, abs($1)) }
        return IntegerMatMulKernel(
            requantizes: requantizes,
            preparedB: ShiftedWeights(values: values, rows: rows, columns: columns, bound: bound, elementType: b.elementType))
    }

    /// What QLinearMatMul's scales and output zero point say: the factor of row i, column j is rowScale[i] ·
    /// columnScale[j] / outputScale.
    private struct Requantization {
        let rowScales: UnsafeBufferPointer<Float>
        let columnScales: UnsafeBufferPointer<Float>
        let outputScale: Float
        let zero: Double
        let type: ElementType
    }

    func run(_ io: NodeIO) throws {
        let a = try io.requiredInput(0)
        let b = preparedB == nil ? try io.requiredInput(bInput) : nil
        let aZero = io.input(2), bZero = preparedB == nil ? io.input(bZeroInput) : nil
        let bType = preparedB?.elementType ?? b!.elementType
        let bShape = preparedB.map { [$0.rows, $0.columns] } ?? b!.shape
        guard a.rank >= 2, bShape.count >= 2, QuantizedType.range(a.elementType) != nil,
              QuantizedType.range(bType) != nil, a.shape[a.rank - 1] == bShape[bShape.count - 2]
        else {
            throw InferenceError.invalidInput("\(opType) takes int8/uint8 [..., M, K] and [..., K, N], got \(a.elementType) \(a.shape) and \(bType) \(bShape)")
        }
        let (m, k, n) = (a.shape[a.rank - 2], a.shape[a.rank - 1], bShape[bShape.count - 1])
        for (zero, type, count, side) in [(aZero, a.elementType, m, "A rows"), (bZero, bType, n, "B columns")] {
            if let zero, zero.elementType != type || (zero.count != 1 && zero.count != count) {
                throw InferenceError.invalidInput("\(opType) zero point \(zero.elementType) \(zero.shape) must be one value or one per \(side)")
            }
        }
        let batch = try Broadcast([Array(a.shape.dropLast(2)), Array(bShape.dropLast(2))])
        var requantization: Requantization?
        var outputType = ElementType.int32
        if requantizes {
            let scales = try [1, 4, 6].map { try io.requiredInput($0) }
            guard scales.allSatisfy({ $0.elementType == .float32 }), scales[0].count == 1 || scales[0].count == m,
                  scales[1].count == 1 || scales[1].count == n, scales[2].count == 1
            else {
                throw InferenceError.invalidInput("QLinearMatMul scales must be float32, per tensor (or per row of A / column of B)")
            }
            let yZero = io.input(7)
            if let yZero, yZero.count != 1 || QuantizedType.range(yZero.elementType) == nil {
                throw InferenceError.invalidInput("QLinearMatMul y_zero_point must be one int8 or uint8")
            }
            outputType = yZero?.elementType ?? a.elementType
            requantization = Requantization(
                rowScales: scales[0].elements(as: Float.self), columnScales: scales[1].elements(as: Float.self),
                outputScale: scales[2].elements(as: Float.self)[0],
                zero: yZero.map { Double(QuantizedType.value($0, 0)) } ?? 0, type: outputType)
        }
        let y = try io.output(0, outputType, batch.resultShape + [m, n])
        guard y.count > 0 else { return }
        let aZeros = (0..<m).map { i in aZero.map { QuantizedType.value($0, $0.count == 1 ? 0 : i) } ?? 0 }

        // One product for every row of A when B is a single matrix; else one per pair of broadcast matrices.
        let shared = bShape.count == 2
        let rows = shared ? a.shape.dropLast().reduce(1, *) : m
        var pairs: [(Int, Int)] = [(0, 0)]
        if !shared && !batch.resultShape.isEmpty {
            pairs = []
            batch.forEachRow { _, offsets, count, steps in
                for i in 0..<count { pairs.append((offsets[0] + i * steps[0], offsets[1] + i * steps[1])) }
            }
        }
        // Session scratch, in floats: shifted A, shifted B (unless prepared), the sums; then room for the
        // double-precision product when a float32 one could round with the largest |A| possible.
        let ownB = preparedB == nil ? k * n : 0
        let floats = rows * k + ownB + rows * n
        let bBoundLimit = preparedB?.bound ?? 256
        let maybeDouble = !QuantizedType.exactInFloat(depth: k, 256, bBoundLimit)
        let region = try io.scratch(floats: floats + (maybeDouble ? 1 + 2 * (rows * k + k * n + rows * n) : 0))
        let shiftedA = region, sums = region + rows * k + ownB
        // Safe: inside the block and 8-byte aligned (the offset is rounded up to an even float count); those floats
        // are only used as doubles.
        let wide = maybeDouble
            ? UnsafeMutableRawPointer(region + ((floats + 1) & ~1)).bindMemory(to: Double.self, capacity: rows * k + k * n + rows * n)
            : nil
        var outRow = 0
        for (aMatrix, bMatrix) in pairs {
            for row in 0..<rows {
                QuantizedType.shifted(a, from: (aMatrix * rows + row) * k, count: k, by: aZeros[row % m], into: shiftedA + row * k)
            }
            // The bound A's type and zero points allow; only when that is too large for float32 are the values
            // themselves looked at.
            var aBound = aZeros.reduce(Float(0)) { Swift.max($0, QuantizedType.shiftedBound(a.elementType, zero: $1)) }
            func multiply(_ weights: UnsafePointer<Float>, bBound: Float) throws {
                if !QuantizedType.exactInFloat(depth: k, aBound, bBound) {
                    aBound = UnsafeBufferPointer(start: shiftedA, count: rows * k).reduce(0) { Swift.max($0, abs($1)) }
                }
                if k == 0 {
                    sums.update(repeating: 0, count: rows * n)
                    write({ Double(sums[$0]) }, rows: rows, n: n, m: m, into: y, from: outRow * n, requantization)
                } else if QuantizedType.exactInFloat(depth: k, aBound, bBound) {
                    BLAS.sgemm(transposeA: false, transposeB: false, m: rows, n: n, k: k, alpha: 1, a: shiftedA, lda: k,
                               b: weights, ldb: n, beta: 0, c: sums, ldc: n)
                    write({ Double(sums[$0]) }, rows: rows, n: n, m: m, into: y, from: outRow * n, requantization)
                } else {
                    guard let wide else {
                        throw InferenceError.execution(node: opType, message: "no double-precision scratch reserved")
                    }
                    let (wa, wb, wc) = (wide, wide + rows * k, wide + rows * k + k * n)
                    for i in 0..<(rows * k) { wa[i] = Double(shiftedA[i]) }
                    for i in 0..<(k * n) { wb[i] = Double(weights[i]) }
                    Double.gemm(m: rows, n: n, k: k, alpha: 1, a: wa, lda: k, b: wb, ldb: n, transposeB: false, c: wc, ldc: n)
                    write({ wc[$0] }, rows: rows, n: n, m: m, into: y, from: outRow * n, requantization)
                }
            }
            if let preparedB {
                try preparedB.values.withUnsafeBufferPointer { try multiply($0.baseAddress!, bBound: preparedB.bound) }
            } else {
                let target = region + rows * k
                let bZeros = (0..<n).map { j in bZero.map { QuantizedType.value($0, $0.count == 1 ? 0 : j) } ?? 0 }
                var bound: Float = 0
                for p in 0..<k {
                    QuantizedType.shifted(b!, from: (bMatrix * k + p) * n, count: n, by: 0, into: target + p * n)
                    for j in 0..<n {
                        target[p * n + j] -= Float(bZeros[j])
                        bound = Swift.max(bound, abs(target[p * n + j]))
                    }
                }
                try multiply(target, bBound: bound)
            }
            outRow += rows
        }
    }

    /// Writes `rows` × `n` exact integer sums (`sum(i)`, row-major) into `y` from element `start` on: as int32, or
    /// requantized. The sums arrive as Double whatever they were computed in: concrete conversions, not generic ones.
    private func write(
        _ sum: (Int) -> Double, rows: Int, n: Int, m: Int, into y: Tensor, from start: Int,
        _ requantization: Requantization?
    ) {
        guard let r = requantization else {
            let out = y.mutableElements(as: Int32.self).baseAddress! + start
            for i in 0..<(rows * n) { out[i] = Int32(truncatingIfNeeded: Int64(sum(i))) }
            return
        }
        let store = QuantizedType.writer(y)
        for row in 0..<rows {
            let rowScale = r.rowScales[r.rowScales.count == 1 ? 0 : row % m]
            for j in 0..<n {
                let factor = rowScale * r.columnScales[r.columnScales.count == 1 ? 0 : j] / r.outputScale
                store(start + row * n + j, QuantizedType.requantize(sum(row * n + j), factor: factor, zero: r.zero, to: r.type))
            }
        }
    }
}
