import Inference

/// Compares tensors the way ONNX's backend tests and onnxruntime comparisons do.
public enum Tolerance {
    /// Describes the first difference between `actual` and `expected` beyond |a - e| ≤ atol + rtol·|e|, or nil when
    /// they agree (same type and shape; integers and bools must match exactly).
    public static func mismatch(_ actual: Tensor, _ expected: Tensor, rtol: Double = 1e-4, atol: Double = 1e-5) -> String? {
        guard actual.elementType == expected.elementType else {
            return "type \(actual.elementType) ≠ \(expected.elementType)"
        }
        guard actual.shape == expected.shape else { return "shape \(actual.shape) ≠ \(expected.shape)" }
        func compare<T>(_: T.Type, _ close: (T, T) -> Bool) -> String? {
            let (a, e) = (actual.elements(as: T.self), expected.elements(as: T.self))
            for i in 0..<a.count where !close(a[i], e[i]) {
                return "element \(i): \(a[i]) ≠ \(e[i])"
            }
            return nil
        }
        func near(_ a: Double, _ e: Double) -> Bool {
            if a.isNaN || e.isNaN { return a.isNaN && e.isNaN }
            if a.isInfinite || e.isInfinite { return a == e }
            return abs(a - e) <= atol + rtol * abs(e)
        }
        switch actual.elementType {
        case .float32: return compare(Float.self) { near(Double($0), Double($1)) }
        case .float64: return compare(Double.self) { near($0, $1) }
        case .int64: return compare(Int64.self, ==)
        case .int32: return compare(Int32.self, ==)
        case .bool, .uint8: return compare(UInt8.self, ==)
        case .int8: return compare(Int8.self, ==)
        case .float16: return compare(UInt16.self, ==)
        }
    }
}
