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

    /// The range of a QuantizeLinear output: the 8-bit types and, since opset 21, the 16-bit ones.
    static func linearRange(_ type: ElementType) -> ClosedRange<Int32>? {
        switch type {
        case .uint16: 0...65535
        case .int16: -32768...32767
        default: range(type)
        }
    }

    /// Reads element `i` of an int8, uint8, int16, uint16 or int32 tensor.
    static func value(_ tensor: Tensor, _ i: Int) -> Int32 {
        switch tensor.elementType {
        case .uint8: Int32(tensor.elements(as: UInt8.self)[i])
        case .int8: Int32(tensor.elements(as: Int8.self)[i])
        case .uint16: Int32(tensor.elements(as: UInt16.self)[i])
        case .int16: Int32(tensor.elements(as: Int16.self)[i])
        default: tensor.elements(as: Int32.self)[i]
        }
    }

    /// A QLinear operator's output value: sum · factor + zero, rounded half to even and saturated to the range of
    /// `type` (int8 or uint8).
    static func requantize(_ sum: Double, factor: Float, zero: Double, to type: ElementType) -> Int32 {
        let range = range(type)!
        // A NaN scale (or an infinite one times 0) gives the zero point, as QuantizeLinear maps NaN; never a trap.
        let scaled = sum * Double(factor)
        let value = ((scaled.isNaN ? 0 : scaled) + zero).rounded(.toNearestOrEven)
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
            for i in 0..<count { target[i] = T(Int32(source[start + i]) &- zero) }
        } else {
            let source = tensor.elements(as: Int8.self)
            for i in 0..<count { target[i] = T(Int32(source[start + i]) &- zero) }
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

    /// The largest |v − zero| an element v of `type` (int8 or uint8) can have.
    static func shiftedBound(_ type: ElementType, zero: Int32) -> Float {
        let range = range(type)!
        return Float(Swift.max(abs(range.lowerBound - zero), abs(range.upperBound - zero)))
    }

    /// Writes `value` (already in range) as element `i` of an int8, uint8, int16 or uint16 tensor.
    static func store(_ value: Int32, _ tensor: Tensor, _ i: Int) {
        switch tensor.elementType {
        case .uint8: tensor.mutableElements(as: UInt8.self)[i] = UInt8(value)
        case .int8: tensor.mutableElements(as: Int8.self)[i] = Int8(value)
        case .uint16: tensor.mutableElements(as: UInt16.self)[i] = UInt16(value)
        default: tensor.mutableElements(as: Int16.self)[i] = Int16(value)
        }
    }
}

/// QuantizeLinear and DequantizeLinear between float32 and int8/uint8/int16/uint16 (Dequantize also from int32), per tensor, per
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
            guard (0...5).contains(dtype) && dtype != 1 else {
                throw InferenceError.unsupported(["\(node.label): output_dtype \(dtype) (int8, uint8, int16 and uint16 only)"])
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
            guard let range = QuantizedType.linearRange(type), x.elementType == .float32 else {
                throw InferenceError.invalidInput(
                    "QuantizeLinear takes float32 to int8, uint8, int16 or uint16, got \(x.elementType) to \(type)")
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
            guard QuantizedType.linearRange(x.elementType) != nil || x.elementType == .int32,
                  zeroPoint.map({ $0.elementType == x.elementType }) ?? true
            else {
                throw InferenceError.invalidInput(
                    "DequantizeLinear takes int8, uint8, int16, uint16 or int32 with a zero point of that type")
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
        let count = values.count
        // Four independent minimum/maximum chains (one chain waits on each comparison), merged at the end.
        var lows = (Float(0), Float(0), Float(0), Float(0)), highs = (Float(0), Float(0), Float(0), Float(0))
        let quads = count / 4 * 4
        for i in stride(from: 0, to: quads, by: 4) {
            lows = (Swift.min(lows.0, values[i]), Swift.min(lows.1, values[i + 1]),
                    Swift.min(lows.2, values[i + 2]), Swift.min(lows.3, values[i + 3]))
            highs = (Swift.max(highs.0, values[i]), Swift.max(highs.1, values[i + 1]),
                     Swift.max(highs.2, values[i + 2]), Swift.max(highs.3, values[i + 3]))
        }
        var low = Swift.min(Swift.min(lows.0, lows.1), Swift.min(lows.2, lows.3))
        var high = Swift.max(Swift.max(highs.0, highs.1), Swift.max(highs.2, highs.3))
        for i in quads..<count { low = Swift.min(low, values[i]); high = Swift.max(high, values[i]) }
        let scale = (high == low ? 1 : high - low) / 255
        let zero = Swift.min(255, Swift.max(0, -low / scale)).rounded(.toNearestOrEven)
        let y = try io.output(0, .uint8, x.shape)
        let out = y.mutableElements(as: UInt8.self)
        // Branch-free, so the loop vectorises: adding and taking away 1.5 · 2^23 rounds half to even (|x / scale| ≤
        // 255 here, far inside 2^22); the clamped integer t in 0...255 is then the low byte of t + 2^23's bits.
        for i in 0..<count {
            let rounded = (values[i] / scale + 12_582_912) - 12_582_912
            let t = Swift.min(255, Swift.max(0, rounded + zero))
            out[i] = UInt8(truncatingIfNeeded: (t + 8_388_608).bitPattern)
        }
        if io.outputIndexes.count > 1 { try io.output(1, .float32, []).mutableElements(as: Float.self)[0] = scale }
        if io.outputIndexes.count > 2 { try io.output(2, .uint8, []).mutableElements(as: UInt8.self)[0] = UInt8(zero) }
    }
}
