/// Cast between float32, float64, float16, the integer types (8 to 64 bits, signed and unsigned) and bool, following
/// ONNX's rules:
/// - float → integer truncates toward zero; NaN becomes 0 and values outside the target range saturate to its
///   minimum or maximum (ONNX leaves those undefined; saturating keeps the result defined and never traps);
/// - integer → integer keeps the low bits (two's complement wrap, e.g. int32 200 → int8 -56);
/// - integer or float64 → float rounds to nearest (float64 → float32 overflows to ±inf);
/// - anything → bool is `value != 0` (NaN is true); bool → anything is 0 or 1.
/// float16 converts through Swift's `Float16` (round to nearest even). Strings (`StringCast`): numbers are written
/// in their shortest round-trip form ("NaN", "INF", "-INF" for the special values) and parsed back; a string that is
/// not a number of the target type fails the request. The 8/4-bit float types are refused at load.
struct CastKernel: Kernel {
    let target: ElementType

    init(_ node: NodeDefinition) throws {
        try node.expectInputs(1)
        // Before opset 6 `to` is a type name ("FLOAT", "INT64", ...).
        let name = node.opsetVersion < 6 ? try node.attributes.string("to") : nil
        guard let to = try name.map(Self.legacyTypeNumber) ?? node.attributes.int("to") else {
            throw InferenceError.invalidModel("\(node.label) has no 'to' attribute")
        }
        guard let target = ElementType(rawValue: Int32(clamping: to)) else {
            throw InferenceError.unsupported(["Cast to ONNX data type \(to)"])
        }
        // `saturate` (opset 19) only concerns float8 targets, which are refused above.
        _ = try node.attributes.int("saturate")
        self.target = target
    }

    /// The ONNX data type number of a Cast-1 type name; -1 (refused as unsupported) for an unknown name.
    private static func legacyTypeNumber(_ name: String) -> Int {
        let names = [
            "FLOAT": 1, "UINT8": 2, "INT8": 3, "UINT16": 4, "INT16": 5, "INT32": 6, "INT64": 7, "STRING": 8, "BOOL": 9,
            "FLOAT16": 10, "DOUBLE": 11, "UINT32": 12, "UINT64": 13,
        ]
        return names[name.uppercased()] ?? -1
    }

    func run(_ io: NodeIO) throws {
        let x = try io.requiredInput(0)
        if x.elementType == target {
            try io.setOutput(0, x)
            return
        }
        let y = try io.output(0, target, x.shape, writingStrings: true)
        try Self.convert(x, to: y)
    }

    /// Converts every element of `x` into `y` (same count).
    ///
    /// - Throws: `InferenceError.invalidInput` for a string that is not a number of `y`'s type.
    static func convert(_ x: Tensor, to y: Tensor) throws(InferenceError) {
        guard x.count > 0 else { return }
        switch x.elementType {
        case .string: try StringCast.parse(x, into: y)
        case .float32: fromFloat(Float.self, x, y)
        case .float64: fromFloat(Double.self, x, y)
        case .int8: fromInteger(Int8.self, x, y)
        case .int32: fromInteger(Int32.self, x, y)
        case .int64: fromInteger(Int64.self, x, y)
        case .uint8: fromInteger(UInt8.self, x, y)
        case .int16: fromInteger(Int16.self, x, y)
        case .uint16: fromInteger(UInt16.self, x, y)
        case .uint32: fromInteger(UInt32.self, x, y)
        case .uint64: fromInteger(UInt64.self, x, y)
        case .bool: fromBool(x, y)
        case .float16: fromFloat(Float16.self, x, y)
        }
    }

    /// `value` truncated toward zero into `T`; NaN is 0, out-of-range values saturate.
    @inline(__always)
    static func saturating<S: BinaryFloatingPoint, T: FixedWidthInteger>(_ value: S, to _: T.Type) -> T {
        if value.isNaN { return 0 }
        let truncated = value.rounded(.towardZero)
        if truncated <= S(T.min) { return T.min }
        // S(T.max) may round up to 2^bits, which is then itself out of range.
        if truncated >= S(T.max) { return T.max }
        // Inside T's range now, so exact as a Double and within Int64 (signed T) or UInt64. The generic T(truncated)
        // runs the standard library's bit-by-bit `_convert(from:)`; these concrete conversions are one instruction.
        let wide = Double(truncated)
        return T.isSigned ? T(truncatingIfNeeded: Int64(wide)) : T(truncatingIfNeeded: UInt64(wide))
    }

    private static func fromFloat<S: BinaryFloatingPoint>(_: S.Type, _ x: Tensor, _ y: Tensor) {
        let src = x.elements(as: S.self).baseAddress!
        switch y.elementType {
        case .float32: loop(src, Float.self, y) { Float($0) }
        case .float64: loop(src, Double.self, y) { Double($0) }
        case .int8: loop(src, Int8.self, y) { saturating($0, to: Int8.self) }
        case .int32: loop(src, Int32.self, y) { saturating($0, to: Int32.self) }
        case .int64: loop(src, Int64.self, y) { saturating($0, to: Int64.self) }
        case .uint8: loop(src, UInt8.self, y) { saturating($0, to: UInt8.self) }
        case .int16: loop(src, Int16.self, y) { saturating($0, to: Int16.self) }
        case .uint16: loop(src, UInt16.self, y) { saturating($0, to: UInt16.self) }
        case .uint32: loop(src, UInt32.self, y) { saturating($0, to: UInt32.self) }
        case .uint64: loop(src, UInt64.self, y) { saturating($0, to: UInt64.self) }
        case .bool: loop(src, UInt8.self, y) { $0 != 0 ? 1 : 0 }
        case .float16: loop(src, Float16.self, y) { Float16($0) }
        case .string: loop(src, String.self, y) { StringCast.text($0) }
        }
    }

    private static func fromInteger<S: FixedWidthInteger>(_: S.Type, _ x: Tensor, _ y: Tensor) {
        let src = x.elements(as: S.self).baseAddress!
        switch y.elementType {
        case .float32: loop(src, Float.self, y) { Float($0) }
        case .float64: loop(src, Double.self, y) { Double($0) }
        case .int8: loop(src, Int8.self, y) { Int8(truncatingIfNeeded: $0) }
        case .int32: loop(src, Int32.self, y) { Int32(truncatingIfNeeded: $0) }
        case .int64: loop(src, Int64.self, y) { Int64(truncatingIfNeeded: $0) }
        case .uint8: loop(src, UInt8.self, y) { UInt8(truncatingIfNeeded: $0) }
        case .int16: loop(src, Int16.self, y) { Int16(truncatingIfNeeded: $0) }
        case .uint16: loop(src, UInt16.self, y) { UInt16(truncatingIfNeeded: $0) }
        case .uint32: loop(src, UInt32.self, y) { UInt32(truncatingIfNeeded: $0) }
        case .uint64: loop(src, UInt64.self, y) { UInt64(truncatingIfNeeded: $0) }
        case .bool: loop(src, UInt8.self, y) { $0 != 0 ? 1 : 0 }
        case .float16: loop(src, Float16.self, y) { Float16($0) }
        case .string: loop(src, String.self, y) { String($0) }
        }
    }

    private static func fromBool(_ x: Tensor, _ y: Tensor) {
        let src = x.elements(as: UInt8.self).baseAddress!
        switch y.elementType {
        case .float32: loop(src, Float.self, y) { $0 != 0 ? 1 : 0 }
        case .float64: loop(src, Double.self, y) { $0 != 0 ? 1 : 0 }
        case .int8: loop(src, Int8.self, y) { $0 != 0 ? 1 : 0 }
        case .int32: loop(src, Int32.self, y) { $0 != 0 ? 1 : 0 }
        case .int64: loop(src, Int64.self, y) { $0 != 0 ? 1 : 0 }
        case .uint8, .bool: loop(src, UInt8.self, y) { $0 != 0 ? 1 : 0 }
        case .int16: loop(src, Int16.self, y) { $0 != 0 ? 1 : 0 }
        case .uint16: loop(src, UInt16.self, y) { $0 != 0 ? 1 : 0 }
        case .uint32: loop(src, UInt32.self, y) { $0 != 0 ? 1 : 0 }
        case .uint64: loop(src, UInt64.self, y) { $0 != 0 ? 1 : 0 }
        case .float16: loop(src, Float16.self, y) { $0 != 0 ? 1 : 0 }
        case .string: loop(src, String.self, y) { $0 != 0 ? "1" : "0" }
        }
    }

    @inline(__always)
    static func loop<S, T>(_ src: UnsafePointer<S>, _: T.Type, _ y: Tensor, _ f: (S) -> T) {
        let dst = y.mutableElements(as: T.self).baseAddress!
        for i in 0..<y.count { dst[i] = f(src[i]) }
    }
}

/// Clip to [min, max] (opset ≥ 11: optional scalar inputs; before: `min`/`max` attributes) on float32, float64 and
/// every integer type. When min > max every element becomes max (numpy's clip).
struct ClipKernel: Kernel {
    let attributeBounds: (Float, Float)?

    init(_ node: NodeDefinition) throws {
        if node.opsetVersion >= 11 {
            try node.expectInputs(1, 3)
            attributeBounds = nil
        } else {
            try node.expectInputs(1)
            attributeBounds = (try node.attributes.float("min", default: -.greatestFiniteMagnitude),
                               try node.attributes.float("max", default: .greatestFiniteMagnitude))
        }
    }

    func run(_ io: NodeIO) throws {
        let x = try io.requiredInput(0)
        let y = try io.output(0, x.elementType, x.shape)
        switch x.elementType {
        case .float32: try clip(Float.self, x, y, io, attributeBounds.map { ($0.0, $0.1) })
        case .float64: try clip(Double.self, x, y, io, attributeBounds.map { (Double($0.0), Double($0.1)) })
        case .int8: try clip(Int8.self, x, y, io, nil)
        case .int32: try clip(Int32.self, x, y, io, nil)
        case .int64: try clip(Int64.self, x, y, io, nil)
        case .uint8: try clip(UInt8.self, x, y, io, nil)
        case .int16: try clip(Int16.self, x, y, io, nil)
        case .uint16: try clip(UInt16.self, x, y, io, nil)
        case .uint32: try clip(UInt32.self, x, y, io, nil)
        case .uint64: try clip(UInt64.self, x, y, io, nil)
        default: throw InferenceError.invalidInput("Clip does not take \(x.elementType)")
        }
    }

    private func clip<T: Comparable & Numeric>(
        _: T.Type, _ x: Tensor, _ y: Tensor, _ io: NodeIO, _ attributes: (T, T)?
    ) throws where T: _BoundedForClip {
        var low = T.lowest, high = T.highest
        if let attributes {
            (low, high) = attributes
        } else {
            if let tensor = io.input(1) { low = try bound(tensor, x.elementType, "min") }
            if let tensor = io.input(2) { high = try bound(tensor, x.elementType, "max") }
        }
        let count = x.count
        guard count > 0 else { return }
        let src = x.elements(as: T.self).baseAddress!, dst = y.mutableElements(as: T.self).baseAddress!
        for i in 0..<count { dst[i] = Swift.min(Swift.max(src[i], low), high) }
    }

    private func bound<T>(_ tensor: Tensor, _ type: ElementType, _ name: String) throws -> T {
        guard tensor.elementType == type, tensor.count == 1 else {
            throw InferenceError.invalidInput("Clip \(name) must be a \(type) scalar, got \(tensor.elementType) \(tensor.shape)")
        }
        return tensor.elements(as: T.self)[0]
    }
}

/// The extreme values Clip uses when a bound is absent.
protocol _BoundedForClip {
    static var lowest: Self { get }
    static var highest: Self { get }
}

extension Float: _BoundedForClip {
    static var lowest: Float { -.infinity }
    static var highest: Float { .infinity }
}

extension Double: _BoundedForClip {
    static var lowest: Double { -.infinity }
    static var highest: Double { .infinity }
}

extension _BoundedForClip where Self: FixedWidthInteger {
    static var lowest: Self { .min }
    static var highest: Self { .max }
}

extension Int8: _BoundedForClip {}
extension UInt8: _BoundedForClip {}
extension Int16: _BoundedForClip {}
extension UInt16: _BoundedForClip {}
extension Int32: _BoundedForClip {}
extension UInt32: _BoundedForClip {}
extension Int64: _BoundedForClip {}
extension UInt64: _BoundedForClip {}
