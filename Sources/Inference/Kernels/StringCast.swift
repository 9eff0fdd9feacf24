/// Cast between strings and numbers: the text form of a number, and a number read from text.
enum StringCast {
    /// The shortest text that reads back as `value`; "NaN", "INF" and "-INF" for the special values (ONNX's names).
    static func text<T: BinaryFloatingPoint>(_ value: T) -> String {
        if value.isNaN { return "NaN" }
        if value.isInfinite { return value < 0 ? "-INF" : "INF" }
        return String(describing: value)
    }

    /// Reads every string of `x` as a number of `y`'s type into `y` (same count). Leading and trailing spaces are
    /// ignored; floats take "NaN", "INF", "-INF", "inf", "infinity" in any case; bool is the number's `!= 0`.
    ///
    /// - Throws: `InferenceError.invalidInput` naming the first string that is not such a number.
    static func parse(_ x: Tensor, into y: Tensor) throws(InferenceError) {
        let strings = x.strings
        switch y.elementType {
        case .float32: try fill(strings, y, Float.self, floating)
        case .float64: try fill(strings, y, Double.self, floating)
        case .float16: try fill(strings, y, Float16.self) { (text: Substring) in floating(text).map { Float16($0 as Float) } }
        case .int8: try fill(strings, y, Int8.self, integer)
        case .int32: try fill(strings, y, Int32.self, integer)
        case .int64: try fill(strings, y, Int64.self, integer)
        case .uint8: try fill(strings, y, UInt8.self, integer)
        case .int16: try fill(strings, y, Int16.self, integer)
        case .uint16: try fill(strings, y, UInt16.self, integer)
        case .uint32: try fill(strings, y, UInt32.self, integer)
        case .uint64: try fill(strings, y, UInt64.self, integer)
        case .bool: try fill(strings, y, UInt8.self) { (text: Substring) in floating(text).map { ($0 as Double) != 0 ? 1 : 0 } }
        case .string: _ = y.mutableElements(as: String.self).update(fromContentsOf: strings)
        }
    }

    private static func fill<T>(
        _ strings: UnsafeBufferPointer<String>, _ y: Tensor, _: T.Type, _ read: (Substring) -> T?
    ) throws(InferenceError) {
        let out = y.mutableElements(as: T.self)
        for (index, string) in strings.enumerated() {
            guard let value = read(trimmed(string)) else {
                throw InferenceError.invalidInput("Cast: string \(index) ('\(string.prefix(40))') is not a \(y.elementType) number")
            }
            out[index] = value
        }
    }

    private static func trimmed(_ string: String) -> Substring {
        let isSpace: (Character) -> Bool = { $0.isWhitespace }
        guard let first = string.firstIndex(where: { !isSpace($0) }), let last = string.lastIndex(where: { !isSpace($0) }) else {
            return ""
        }
        return string[first...last]
    }

    private static func floating<T: BinaryFloatingPoint & LosslessStringConvertible>(_ text: Substring) -> T? {
        switch text.lowercased() {
        case "nan", "+nan", "-nan": return .nan
        case "inf", "+inf", "infinity", "+infinity": return .infinity
        case "-inf", "-infinity": return -.infinity
        default: return T(String(text))
        }
    }

    /// An integer in range of `T`, or nil (a fraction or an out-of-range value is not an integer of `T`).
    private static func integer<T: FixedWidthInteger>(_ text: Substring) -> T? {
        T(text.hasPrefix("+") ? text.dropFirst() : text)
    }
}
