/// Branch-free float32 exp and erf that compile to vector code inside loops, instead of one libm call per element.
///
/// Relative error of `exp` is below 2e-7 over its range (degree-6 Taylor polynomial on |r| ≤ ln 2 / 2 after
/// range reduction); absolute error of `erf` below 2e-7 (Abramowitz & Stegun 7.1.26). `exp` clamps its input to
/// [-87, 88], so results saturate to tiny / large finite values instead of denormals or inf.
enum FastMath {
    @inline(__always)
    static func exp(_ value: Float) -> Float {
        let x = Swift.min(Swift.max(value, -87), 88)
        // n = round(x / ln 2) with the 1.5 · 2^23 trick: adding it rounds to an integer, which then sits in the low
        // mantissa bits of `biased`.
        let shifter: Float = 12_582_912
        let biased = x * 1.442_695_04 + shifter
        let n = biased - shifter
        // r = x - n ln 2, with ln 2 split in two for precision.
        let r = (x - n * 0.693_145_75) - n * 1.428_606_8e-6
        var p: Float = 1.0 / 720
        p = p * r + 1.0 / 120
        p = p * r + 1.0 / 24
        p = p * r + 1.0 / 6
        p = p * r + 0.5
        p = p * r + 1
        p = p * r + 1
        // 2^n assembled from its exponent bits (n is in [-126, 127] after the clamp), with wrapping integer
        // arithmetic only: a checked float-to-int conversion would trap-check every element and stop vectorization.
        let scale = Float(bitPattern: (biased.bitPattern &- shifter.bitPattern &+ 127) &<< 23)
        return p * scale
    }

    /// Relative error below 1e-6: near 0, where the approximation's absolute error would dominate, the Taylor
    /// series takes over.
    @inline(__always)
    static func erf(_ value: Float) -> Float {
        let x = Swift.abs(value)
        let t = 1 / (1 + 0.327_591_1 * x)
        var p: Float = 1.061_405_429
        p = p * t - 1.453_152_027
        p = p * t + 1.421_413_741
        p = p * t - 0.284_496_736
        p = p * t + 0.254_829_592
        let large = 1 - p * t * exp(-x * x)
        let x2 = x * x
        let small = 1.128_379_17 * x * (1 + x2 * (-1.0 / 3 + x2 * (1.0 / 10 - x2 * (1.0 / 42))))
        let magnitude = x < 0.25 ? small : large
        return value < 0 ? -magnitude : magnitude
    }

    @inline(__always)
    static func sigmoid(_ x: Float) -> Float {
        1 / (1 + exp(-x))
    }

    /// Relative error below 1e-6: near 0, where 1 - 2 / (e^{2x} + 1) cancels, the Taylor series takes over.
    @inline(__always)
    static func tanh(_ x: Float) -> Float {
        let large = 1 - 2 / (exp(2 * x) + 1)
        let x2 = x * x
        let small = x * (1 + x2 * (-1.0 / 3 + x2 * (2.0 / 15 - x2 * (17.0 / 315))))
        return Swift.abs(x) < 0.1 ? small : large
    }
}
