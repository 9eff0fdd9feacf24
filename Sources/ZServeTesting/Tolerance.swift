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
        case .int16: return compare(Int16.self, ==)
        case .uint16: return compare(UInt16.self, ==)
        case .uint32: return compare(UInt32.self, ==)
        case .uint64: return compare(UInt64.self, ==)
        case .float16: return compare(UInt16.self, ==)
        case .string: return compare(String.self, ==)
        }
    }

    /// Unit roundoff of float32 (2⁻²⁴).
    public static let float32Roundoff = 0x1p-24

    /// Compares two float32 evaluations of sums of `terms` products computed in different orders — another BLAS
    /// kernel (OpenBLAS picks them by CPU), another split across threads, a fused node against separate ones.
    ///
    /// Each evaluation is within γₙ·Σ|xᵢyᵢ| of the exact sum, γₙ = n·u / (1 − n·u) with u = 2⁻²⁴ (Higham, *Accuracy
    /// and Stability of Numerical Algorithms*, §3.1), so the two differ by at most 2γₙ·Σ|xᵢyᵢ| per element; a few
    /// roundings after the sum (bias, activation) add 4u·|e|. `magnitudes` holds Σ|xᵢyᵢ| (plus |bias|) per element:
    /// the same operation run on the inputs' absolute values. The bound grows with the reduction length, so it
    /// holds on every machine while an index or accumulation bug (errors of the order of the values) still fails.
    public static func reductionMismatch(
        _ actual: Tensor, _ expected: Tensor, terms: Int, magnitudes: Tensor
    ) -> String? {
        guard actual.elementType == .float32, expected.elementType == .float32, magnitudes.elementType == .float32 else {
            return mismatch(actual, expected)
        }
        guard actual.shape == expected.shape, magnitudes.shape == expected.shape else {
            return "shapes \(actual.shape), \(expected.shape), magnitudes \(magnitudes.shape) differ"
        }
        let u = float32Roundoff
        let n = Double(max(1, terms))
        let gamma = n * u / (1 - n * u)
        let (a, e, m) = (actual.elements(as: Float.self), expected.elements(as: Float.self), magnitudes.elements(as: Float.self))
        for i in 0..<a.count {
            let bound = 2 * gamma * Double(m[i]) + 4 * u * abs(Double(e[i])) + Double(Float.leastNormalMagnitude)
            if !(abs(Double(a[i]) - Double(e[i])) <= bound) {
                return "element \(i): \(a[i]) ≠ \(e[i]) (|difference| \(abs(a[i] - e[i])) > bound \(bound) for \(terms) terms)"
            }
        }
        return nil
    }

    /// The absolute values of a float32 tensor's elements (to compute `reductionMismatch`'s magnitudes).
    public static func absolute(_ tensor: Tensor) -> Tensor {
        Tensor(float32: tensor.elements(as: Float.self).map { abs($0) }, shape: tensor.shape)
    }
}
