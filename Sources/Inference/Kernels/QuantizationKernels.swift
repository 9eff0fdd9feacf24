/// Which scale / zero point applies to each element: one for the tensor, one per index along `axis`, or one per
/// block of `blockSize` indices along `axis` (a parameter of the input's rank, `axis` shortened to the block count).
struct QuantizationLayout {
    let outer: Int, dim: Int, inner: Int
    /// 0: per tensor; 1: per axis; otherwise the block size.
    let block: Int
    let parameterDim: Int

    init(_ shape: [Int], parameter: Tensor, axis: Int, blockSize: Int, op: String) throws {
        if parameter.count == 1 && parameter.rank <= 1 {
            (outer, dim, inner, block, parameterDim) = (1, shape.elementCount, 1, 0, 1)
            return
        }
        let axis = try normalizedAxis(axis, rank: shape.count)
        (outer, dim, inner) = (shape[..<axis].reduce(1, *), shape[axis], shape[(axis + 1)...].reduce(1, *))
        if blockSize <= 0 {
            guard parameter.shape == [dim] else {
                throw InferenceError.invalidInput("\(op) scale \(parameter.shape) must be a scalar or [\(dim)] along axis \(axis)")
            }
            (block, parameterDim) = (1, dim)
        } else {
            var expected = shape
            expected[axis] = (dim + blockSize - 1) / blockSize
            guard parameter.shape == expected else {
                throw InferenceError.invalidInput("\(op) blocked scale \(parameter.shape) must be \(expected)")
            }
            (block, parameterDim) = (blockSize, expected[axis])
        }
    }

    /// Calls `body(element, parameter)` for every element.
    @inline(__always)
    func forEach(_ body: (Int, Int) -> Void) {
        if block == 0 {
            for i in 0..<(outer * dim * inner) { body(i, 0) }
            return
        }
        for o in 0..<outer {
            for a in 0..<dim {
                let row = (o * parameterDim + a / block) * inner, base = (o * dim + a) * inner
                for i in 0..<inner { body(base + i, block == 1 ? a : row + i) }
            }
        }
    }
}

/// The 8-bit integer types quantized tensors use, with their ranges.
enum QuantizedType {
    static func range(_ type: ElementType) -> ClosedRange<Int32>? {
        switch type {
        case .uint8: 0...255
        case .int8: -128...127
        default: nil
        }
    }

    /// Reads element `i` of an int8, uint8 or int32 tensor.
    static func value(_ tensor: Tensor, _ i: Int) -> Int32 {
        switch tensor.elementType {
        case .uint8: Int32(tensor.elements(as: UInt8.self)[i])
        case .int8: Int32(tensor.elements(as: Int8.self)[i])
        default: tensor.elements(as: Int32.self)[i]
        }
    }

    /// A QLinear operator's output value: sum · factor + zero, rounded half to even and saturated to the range of
    /// `type` (int8 or uint8).
    static func requantize(_ sum: Double, factor: Float, zero: Double, to type: ElementType) -> Int32 {
        let range = range(type)!
        let value = (sum * Double(factor) + zero).rounded(.toNearestOrEven)
        return Int32(Swift.min(Swift.max(value, Double(range.lowerBound)), Double(range.upperBound)))
    }

    /// Whether a product of 8-bit operands (zero points subtracted) summed over `depth` terms is exact in float32
    /// whatever the summation order: every partial sum is at most depth · max|a| · max|b| in magnitude, and below
    /// 2^24 float32 holds every such integer. Above it the product runs in double, where 8-bit sums always are.
    static func exactInFloat(depth: Int, _ aBound: Float, _ bBound: Float) -> Bool {
        Double(depth) * Double(aBound) * Double(bBound) < Double(1 << 24)
    }

    /// Writes `count` elements of an 8-bit tensor from element `from` on, each minus `zero`, to `target`.
    static func shifted<T: BinaryFloatingPoint>(
        _ tensor: Tensor, from start: Int, count: Int, by zero: Int32, into target: UnsafeMutablePointer<T>
    ) {
        if tensor.elementType == .uint8 {
            let source = tensor.elements(as: UInt8.self)
            for i in 0..<count { target[i] = T(Int32(source[start + i]) - zero) }
        } else {
            let source = tensor.elements(as: Int8.self)
            for i in 0..<count { target[i] = T(Int32(source[start + i]) - zero) }
        }
    }

    /// Stores a value already in the output type's range as element `i` of `y` (uint8, int8 or int32).
    static func writer(_ y: Tensor) -> (_ i: Int, _ value: Int32) -> Void {
        switch y.elementType {
        case .uint8:
            let target = y.mutableElements(as: UInt8.self)
            return { target[$0] = UInt8(truncatingIfNeeded: $1) }
        case .int8:
            let target = y.mutableElements(as: Int8.self)
            return { target[$0] = Int8(truncatingIfNeeded: $1) }
        default:
            let target = y.mutableElements(as: Int32.self)
            return { target[$0] = $1 }
        }
    }

    /// Writes `value` (already in range) as element `i` of an int8 or uint8 tensor.
    static func store(_ value: Int32, _ tensor: Tensor, _ i: Int) {
        if tensor.elementType == .uint8 {
            tensor.mutableElements(as: UInt8.self)[i] = UInt8(value)
        } else {
            tensor.mutableElements(as: Int8.self)[i] = Int8(value)
        }
    }
}

/// QuantizeLinear and DequantizeLinear between float32 and int8/uint8 (Dequantize also from int32), per tensor, per
/// axis or in blocks (`block_size`). Quantize: saturate(rint(x / scale) + zero point), ties to even, computed in
/// float32; the output type is the zero point's, else `output_dtype`, else uint8. Dequantize: (x − zero point) · scale.
struct LinearQuantizationKernel: Kernel {
    let quantize: Bool
    let axis: Int
    let blockSize: Int
    let outputType: ElementType?
    var opType: String { quantize ? "QuantizeLinear" : "DequantizeLinear" }

    init(quantize: Bool, _ node: NodeDefinition) throws {
        try node.expectInputs(2, 3)
        self.quantize = quantize
        axis = try node.attributes.int("axis", default: 1)
        blockSize = try node.attributes.int("block_size", default: 0)
        let dtype = try node.attributes.int("output_dtype", default: 0)
        if quantize {
            // Saturation only concerns float8 outputs, which are refused below; float32 is the only precision taken.
            _ = try node.attributes.int("saturate")
            if let precision = try node.attributes.int("precision"), precision != 1 {
                throw InferenceError.unsupported(["\(node.label): precision \(precision)"])
            }
            guard dtype == 0 || dtype == 2 || dtype == 3 else {
                throw InferenceError.unsupported(["\(node.label): output_dtype \(dtype) (int8 and uint8 only)"])
            }
        } else if dtype != 0 && dtype != 1 {
            throw InferenceError.unsupported(["\(node.label): output_dtype \(dtype) (float32 only)"])
        }
        outputType = dtype == 0 ? nil : ElementType(rawValue: Int32(dtype))
    }

    func run(_ io: NodeIO) throws {
        let x = try io.requiredInput(0), scale = try io.requiredInput(1)
        let zeroPoint = io.input(2)
        guard scale.elementType == .float32 else {
            throw InferenceError.invalidInput("\(opType) scale must be float32, got \(scale.elementType)")
        }
        let layout = try QuantizationLayout(x.shape, parameter: scale, axis: axis, blockSize: blockSize, op: opType)
        if let zeroPoint, zeroPoint.shape != scale.shape {
            throw InferenceError.invalidInput("\(opType) zero point \(zeroPoint.shape) must match scale \(scale.shape)")
        }
        let scales = scale.elements(as: Float.self)
        if quantize {
            let type = zeroPoint?.elementType ?? outputType ?? .uint8
            guard let range = QuantizedType.range(type), x.elementType == .float32 else {
                throw InferenceError.invalidInput("QuantizeLinear takes float32 to int8 or uint8, got \(x.elementType) to \(type)")
            }
            let y = try io.output(0, type, x.shape)
            let values = x.elements(as: Float.self)
            layout.forEach { i, p in
                let zero = zeroPoint.map { QuantizedType.value($0, p) } ?? 0
                let q = (values[i] / scales[p]).rounded(.toNearestOrEven)
                let clamped = q.isNaN ? 0 : Swift.min(Swift.max(q, Float(range.lowerBound) - Float(zero)), Float(range.upperBound) - Float(zero))
                QuantizedType.store(Int32(clamped) + zero, y, i)
            }
        } else {
            guard x.elementType == .int8 || x.elementType == .uint8 || x.elementType == .int32,
                  zeroPoint.map({ $0.elementType == x.elementType }) ?? true
            else {
                throw InferenceError.invalidInput("DequantizeLinear takes int8, uint8 or int32 with a zero point of that type")
            }
            let y = try io.output(0, .float32, x.shape)
            let out = y.mutableElements(as: Float.self)
            layout.forEach { i, p in
                let zero = zeroPoint.map { QuantizedType.value($0, p) } ?? 0
                out[i] = (Float(QuantizedType.value(x, i)) - Float(zero)) * scales[p]
            }
        }
    }
}

/// DynamicQuantizeLinear: float32 x to uint8 with a scale and zero point chosen from x's range (widened to include
/// 0): scale = (max − min) / 255 (1/255 for a constant x), zero point = rint(clamp(−min / scale, 0, 255)).
struct DynamicQuantizeLinearKernel: Kernel {
    init(_ node: NodeDefinition) throws {
        try node.expectInputs(1)
    }

    func run(_ io: NodeIO) throws {
        let x = try io.requiredInput(0)
        guard x.elementType == .float32 else {
            throw InferenceError.invalidInput("DynamicQuantizeLinear takes float32, got \(x.elementType)")
        }
        let values = x.elements(as: Float.self)
        var (low, high): (Float, Float) = (0, 0)
        for v in values { low = Swift.min(low, v); high = Swift.max(high, v) }
        let scale = (high == low ? 1 : high - low) / 255
        let zero = Swift.min(255, Swift.max(0, -low / scale)).rounded(.toNearestOrEven)
        let y = try io.output(0, .uint8, x.shape)
        let out = y.mutableElements(as: UInt8.self)
        for (i, v) in values.enumerated() {
            out[i] = UInt8(Swift.min(255, Swift.max(0, (v / scale).rounded(.toNearestOrEven) + zero)))
        }
        if io.outputIndexes.count > 1 { try io.output(1, .float32, []).mutableElements(as: Float.self)[0] = scale }
        if io.outputIndexes.count > 2 { try io.output(2, .uint8, []).mutableElements(as: UInt8.self)[0] = UInt8(zero) }
    }
}

/// MatMulInteger and QLinearMatMul on int8/uint8 matrices [..., M, K] × [..., K, N] (batch axes broadcast): products
/// of (a − a_zero_point)(b − b_zero_point) summed in int32. MatMulInteger returns the int32 sums; QLinearMatMul
/// requantizes them: saturate(rint(sum · (a_scale · b_scale / y_scale)) + y_zero_point). Zero points and scales are
/// per tensor, or per row of A / per column of B. The sums come from a BLAS product of the shifted operands: sgemm
/// when every partial sum is an integer float32 holds exactly, else dgemm (`QuantizedType.exactInFloat`).
struct IntegerMatMulKernel: Kernel {
    /// QLinearMatMul (true) or MatMulInteger.
    let requantizes: Bool
    var opType: String { requantizes ? "QLinearMatMul" : "MatMulInteger" }

    init(requantizes: Bool, _ node: NodeDefinition) throws {
        if requantizes { try node.expectInputs(8) } else { try node.expectInputs(2, 4) }
        self.requantizes = requantizes
    }

    func run(_ io: NodeIO) throws {
        let a = try io.requiredInput(0)
        let b = try io.requiredInput(requantizes ? 3 : 1)
        let aZero = io.input(requantizes ? 2 : 2), bZero = io.input(requantizes ? 5 : 3)
        guard a.rank >= 2, b.rank >= 2, QuantizedType.range(a.elementType) != nil, QuantizedType.range(b.elementType) != nil,
              a.shape[a.rank - 1] == b.shape[b.rank - 2]
        else {
            throw InferenceError.invalidInput("\(opType) takes int8/uint8 [..., M, K] and [..., K, N], got \(a.elementType) \(a.shape) and \(b.elementType) \(b.shape)")
        }
        let (m, k, n) = (a.shape[a.rank - 2], a.shape[a.rank - 1], b.shape[b.rank - 1])
        let batch = try Broadcast([Array(a.shape.dropLast(2)), Array(b.shape.dropLast(2))])
        for (zero, source, count, side) in [(aZero, a, m, "A rows"), (bZero, b, n, "B columns")] {
            if let zero, zero.elementType != source.elementType || (zero.count != 1 && zero.count != count) {
                throw InferenceError.invalidInput("\(opType) zero point \(zero.elementType) \(zero.shape) must be one value or one per \(side)")
            }
        }
        var scaleFactor: (Tensor, Tensor, Tensor)?
        var output: (type: ElementType, zero: Tensor?) = (.int32, nil)
        if requantizes {
            let scales = try [1, 4, 6].map { try io.requiredInput($0) }
            guard scales.allSatisfy({ $0.elementType == .float32 }), scales[0].count == 1 || scales[0].count == m,
                  scales[1].count == 1 || scales[1].count == n, scales[2].count == 1
            else {
                throw InferenceError.invalidInput("QLinearMatMul scales must be float32, per tensor (or per row of A / column of B)")
            }
            scaleFactor = (scales[0], scales[1], scales[2])
            let yZero = io.input(7)
            if let yZero, yZero.count != 1 || QuantizedType.range(yZero.elementType) == nil {
                throw InferenceError.invalidInput("QLinearMatMul y_zero_point must be one int8 or uint8")
            }
            output = (yZero?.elementType ?? a.elementType, yZero)
        }
        let y = try io.output(0, output.type, batch.resultShape + [m, n])
        guard y.count > 0 else { return }
        let aStride = m * k, bStride = k * n
        let (aCount, bCount) = (a.count / Swift.max(aStride, 1), b.count / Swift.max(bStride, 1))
        var pairs: [(Int, Int)] = []
        if batch.resultShape.isEmpty {
            pairs = [(0, 0)]
        } else {
            batch.forEachRow { _, offsets, count, steps in
                for i in 0..<count { pairs.append((offsets[0] + i * steps[0], offsets[1] + i * steps[1])) }
            }
        }
        let aZeros = (0..<m).map { i in aZero.map { QuantizedType.value($0, $0.count == 1 ? 0 : i) } ?? 0 }
        let bZeros = (0..<n).map { j in bZero.map { QuantizedType.value($0, $0.count == 1 ? 0 : j) } ?? 0 }
        let factors: [Float]? = scaleFactor.map { sa, sb, sy in
            let (fa, fb, fy) = (sa.elements(as: Float.self), sb.elements(as: Float.self), sy.elements(as: Float.self)[0])
            return (0..<(m * n)).map { at in fa[sa.count == 1 ? 0 : at / n] * fb[sb.count == 1 ? 0 : at % n] / fy }
        }
        let yZero = output.zero.map { Double(QuantizedType.value($0, 0)) } ?? 0
        // Session scratch: A and B shifted by their zero points, and the sums, as floats; then room for the
        // double-precision product when the float one could round (see `QuantizedType.exactInFloat`).
        let floats = aStride + bStride + m * n
        let region = try io.scratch(floats: floats + 1 + 2 * floats)
        let (shiftedA, shiftedB, sums) = (region, region + aStride, region + aStride + bStride)
        // Safe: inside the block, 8-byte aligned (the offset is rounded up to an even float count); those floats are
        // only used as doubles.
        let wide = UnsafeMutableRawPointer(region + ((floats + 1) & ~1)).bindMemory(to: Double.self, capacity: floats)
        let store = QuantizedType.writer(y)
        var outIndex = 0
        for (aMatrix, bMatrix) in pairs where aMatrix < Swift.max(aCount, 1) && bMatrix < Swift.max(bCount, 1) {
            for i in 0..<m {
                QuantizedType.shifted(a, from: aMatrix * aStride + i * k, count: k, by: aZeros[i], into: shiftedA + i * k)
            }
            for p in 0..<k {
                QuantizedType.shifted(b, from: bMatrix * bStride + p * n, count: n, by: 0, into: shiftedB + p * n)
                if bZero != nil { for j in 0..<n { shiftedB[p * n + j] -= Float(bZeros[j]) } }
            }
            let bound = { (values: UnsafeMutablePointer<Float>, count: Int) in
                UnsafeBufferPointer(start: values, count: count).reduce(Float(0)) { Swift.max($0, abs($1)) }
            }
            var exact: UnsafeMutablePointer<Double>?
            if k == 0 {
                sums.update(repeating: 0, count: m * n)
            } else if QuantizedType.exactInFloat(depth: k, bound(shiftedA, aStride), bound(shiftedB, bStride)) {
                BLAS.sgemm(transposeA: false, transposeB: false, m: m, n: n, k: k, alpha: 1, a: shiftedA, lda: k,
                           b: shiftedB, ldb: n, beta: 0, c: sums, ldc: n)
            } else {
                let (wa, wb, wc) = (wide, wide + aStride, wide + aStride + bStride)
                for i in 0..<aStride { wa[i] = Double(shiftedA[i]) }
                for i in 0..<bStride { wb[i] = Double(shiftedB[i]) }
                Double.gemm(m: m, n: n, k: k, alpha: 1, a: wa, lda: k, b: wb, ldb: n, transposeB: false, c: wc, ldc: n)
                exact = wc
            }
            for at in 0..<(m * n) {
                let sum = exact?[at] ?? Double(sums[at])
                if let factors {
                    store(outIndex, QuantizedType.requantize(sum, factor: factors[at], zero: yZero, to: output.type))
                } else {
                    store(outIndex, Int32(truncatingIfNeeded: Int64(sum)))
                }
                outIndex += 1
            }
        }
    }
}
