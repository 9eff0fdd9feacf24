/// Branch-free float32 exp, log, erf, tanh and sigmoid, scalar and eight lanes at a time, instead of one libm call per
/// element.
///
/// Relative error of `exp` is below 2e-7 over its range (degree-6 Taylor polynomial on |r| ≤ ln 2 / 2 after
/// range reduction); absolute error of `erf` below 2e-7 (Abramowitz & Stegun 7.1.26). `exp` clamps its input to
/// [-87, 88], so results saturate to tiny / large finite values instead of denormals or inf. The scalar and vector
/// forms evaluate the same expressions, so they agree to the last bit.
enum FastMath {
    /// a × b + c, fused into one rounding when the kernels are built for a CPU with FMA (`ZSERVE_FMA`).
    @inline(__always)
    static func fma(_ a: Float, _ b: Float, _ c: Float) -> Float {
        #if ZSERVE_FMA
        c.addingProduct(a, b)
        #else
        a * b + c
        #endif
    }

    /// a × b + c lane by lane, fused when the kernels are built for a CPU with FMA (`ZSERVE_FMA`).
    @inline(__always)
    static func fma(_ a: FloatVector, _ b: FloatVector, _ c: FloatVector) -> FloatVector {
        #if ZSERVE_FMA
        c.addingProduct(a, b)
        #else
        a * b + c
        #endif
    }

    // The constants shared by the scalar and vector forms.
    /// 1.5 · 2^23: adding it rounds a float of magnitude < 2^22 to an integer held in the low mantissa bits.
    private static var shifter: Float { 12_582_912 }
    private static var log2e: Float { 1.442_695_04 }
    /// -ln 2 split in two, so n · ln 2 is subtracted without losing precision.
    private static var ln2High: Float { -0.693_145_75 }
    private static var ln2Low: Float { -1.428_606_8e-6 }

    @inline(__always)
    static func exp(_ value: Float) -> Float {
        let x = Swift.min(Swift.max(value, -87), 88)
        // n = round(x / ln 2) with the 1.5 · 2^23 trick: n then sits in the low mantissa bits of `biased`.
        let biased = fma(x, log2e, shifter)
        let n = biased - shifter
        // r = x - n ln 2, with ln 2 split in two for precision.
        let r = fma(n, ln2Low, fma(n, ln2High, x))
        var p: Float = 1.0 / 720
        p = fma(p, r, 1.0 / 120)
        p = fma(p, r, 1.0 / 24)
        p = fma(p, r, 1.0 / 6)
        p = fma(p, r, 0.5)
        p = fma(p, r, 1)
        p = fma(p, r, 1)
        // 2^n assembled from its exponent bits (n is in [-126, 127] after the clamp), with wrapping integer
        // arithmetic only: a checked float-to-int conversion would trap-check every element and stop vectorization.
        let scale = Float(bitPattern: (biased.bitPattern &- shifter.bitPattern &+ 127) &<< 23)
        return p * scale
    }

    @inline(__always)
    static func exp(_ value: FloatVector) -> FloatVector {
        let x = value.replacing(with: -87, where: value .< -87)
        return expInRange(x.replacing(with: 88, where: x .> 88))
    }

    /// `exp` of values already within [-87, 88].
    @inline(__always)
    private static func expInRange(_ x: FloatVector) -> FloatVector {
        let shift = FloatVector(repeating: shifter)
        let biased = fma(x, FloatVector(repeating: log2e), shift)
        let n = biased - shift
        let r = fma(n, FloatVector(repeating: ln2Low), fma(n, FloatVector(repeating: ln2High), x))
        var p = FloatVector(repeating: 1.0 / 720)
        p = fma(p, r, FloatVector(repeating: 1.0 / 120))
        p = fma(p, r, FloatVector(repeating: 1.0 / 24))
        p = fma(p, r, FloatVector(repeating: 1.0 / 6))
        p = fma(p, r, FloatVector(repeating: 0.5))
        p = fma(p, r, FloatVector(repeating: 1))
        p = fma(p, r, FloatVector(repeating: 1))
        // Same-size reinterpretation between float and integer lanes (what Float(bitPattern:) does per lane).
        let bits = unsafeBitCast(biased, to: SIMD8<UInt32>.self) &- shifter.bitPattern &+ 127
        return p * unsafeBitCast(bits &<< 23, to: FloatVector.self)
    }

    // log: x = 2^e · m with m in [√½, √2), log x = e · ln 2 + log m, log m from a degree-9 polynomial in f = m - 1
    // (the Cephes single-precision logf coefficients; relative error about 1 ulp away from 1, absolute below 1e-7
    // near it). Zero gives -inf, negatives and NaN give NaN, +inf gives +inf, subnormals are scaled up first.
    @inline(__always)
    private static func logPolynomial(_ f: Float) -> Float {
        var p: Float = 7.037_683_629_2e-2
        p = fma(p, f, -1.151_461_031_0e-1)
        p = fma(p, f, 1.167_699_874_0e-1)
        p = fma(p, f, -1.242_014_084_6e-1)
        p = fma(p, f, 1.424_932_278_7e-1)
        p = fma(p, f, -1.666_805_766_5e-1)
        p = fma(p, f, 2.000_071_476_5e-1)
        p = fma(p, f, -2.499_999_399_3e-1)
        return fma(p, f, 3.333_333_117_4e-1)
    }

    @inline(__always)
    private static func logPolynomial(_ f: FloatVector) -> FloatVector {
        var p = FloatVector(repeating: 7.037_683_629_2e-2)
        p = fma(p, f, FloatVector(repeating: -1.151_461_031_0e-1))
        p = fma(p, f, FloatVector(repeating: 1.167_699_874_0e-1))
        p = fma(p, f, FloatVector(repeating: -1.242_014_084_6e-1))
        p = fma(p, f, FloatVector(repeating: 1.424_932_278_7e-1))
        p = fma(p, f, FloatVector(repeating: -1.666_805_766_5e-1))
        p = fma(p, f, FloatVector(repeating: 2.000_071_476_5e-1))
        p = fma(p, f, FloatVector(repeating: -2.499_999_399_3e-1))
        return fma(p, f, FloatVector(repeating: 3.333_333_117_4e-1))
    }

    /// ln 2 split in two: the high part has few mantissa bits, so e · it is exact.
    private static var ln2Upper: Float { 0.693_359_375 }
    private static var ln2Lower: Float { -2.121_944_4e-4 }
    /// 2^23, to scale subnormals into the normal range.
    private static var subnormalScale: Float { 8_388_608 }

    @inline(__always)
    static func log(_ value: Float) -> Float {
        let subnormal = value < Float.leastNormalMagnitude
        let x = subnormal ? value * subnormalScale : value
        // Exponent and mantissa from the bits; m in [1, 2), moved to [√½, √2) by halving when above √2.
        let bits = x.bitPattern
        var e = Float(Int32(bitPattern: (bits &>> 23) & 0xff) &- 127) - (subnormal ? 23 : 0)
        var m = Float(bitPattern: (bits & 0x007f_ffff) | 0x3f80_0000)
        let high = m > 1.414_213_56
        m = high ? m * 0.5 : m
        e = high ? e + 1 : e
        let f = m - 1
        let f2 = f * f
        var y = logPolynomial(f) * f * f2
        y = fma(e, ln2Lower, y)
        y = fma(-0.5, f2, y)
        let result = fma(e, ln2Upper, f + y)
        if value > 0 && value < .infinity { return result }
        if value == 0 { return -.infinity }
        return value == .infinity ? .infinity : .nan
    }

    @inline(__always)
    static func log(_ value: FloatVector) -> FloatVector {
        let subnormal = value .< Float.leastNormalMagnitude
        let x = (value * FloatVector(repeating: subnormalScale)).replacing(with: value, where: .!subnormal)
        let bits = unsafeBitCast(x, to: SIMD8<UInt32>.self)
        let exponent = unsafeBitCast((bits &>> 23) & 0xff, to: SIMD8<Int32>.self) &- 127
        var e = FloatVector(exponent) - FloatVector(repeating: 23).replacing(with: 0, where: .!subnormal)
        var m = unsafeBitCast((bits & 0x007f_ffff) | 0x3f80_0000, to: FloatVector.self)
        let high = m .> 1.414_213_56
        m = m.replacing(with: m * 0.5, where: high)
        e = e.replacing(with: e + 1, where: high)
        let f = m - 1
        let f2 = f * f
        var y = logPolynomial(f) * f * f2
        y = fma(e, FloatVector(repeating: ln2Lower), y)
        y = fma(FloatVector(repeating: -0.5), f2, y)
        var result = fma(e, FloatVector(repeating: ln2Upper), f + y)
        // Outside (0, inf): the same special values as the scalar form (NaN fails every comparison, so it stays NaN
        // only through the last replacement).
        result = result.replacing(with: -.infinity, where: value .== 0)
        result = result.replacing(with: .infinity, where: value .== .infinity)
        return result.replacing(with: .nan, where: .!(value .>= 0))
    }

    /// erfc(|x|) ≈ t · P(t) · e^{-x²} with t = 1 / (1 + 0.3275911 |x|) (Abramowitz & Stegun 7.1.26).
    @inline(__always)
    private static func erfcMagnitude(_ x: Float) -> Float {
        let t = 1 / fma(0.327_591_1, x, 1)
        var p: Float = 1.061_405_429
        p = fma(p, t, -1.453_152_027)
        p = fma(p, t, 1.421_413_741)
        p = fma(p, t, -0.284_496_736)
        p = fma(p, t, 0.254_829_592)
        return p * t * exp(-x * x)
    }

    @inline(__always)
    private static func erfcMagnitude(_ x: FloatVector) -> FloatVector {
        let t = 1 / fma(FloatVector(repeating: 0.327_591_1), x, FloatVector(repeating: 1))
        var p = FloatVector(repeating: 1.061_405_429)
        p = fma(p, t, FloatVector(repeating: -1.453_152_027))
        p = fma(p, t, FloatVector(repeating: 1.421_413_741))
        p = fma(p, t, FloatVector(repeating: -0.284_496_736))
        p = fma(p, t, FloatVector(repeating: 0.254_829_592))
        // -x² is never above 88: only the lower clamp of `exp` can apply.
        let exponent = -x * x
        return p * t * expInRange(exponent.replacing(with: -87, where: exponent .< -87))
    }

    /// Relative error below 1e-6: near 0, where the approximation's absolute error would dominate, the Taylor
    /// series takes over.
    @inline(__always)
    static func erf(_ value: Float) -> Float {
        let x = Swift.abs(value)
        let x2 = x * x
        let small = 1.128_379_17 * x * fma(x2, fma(x2, fma(x2, -1.0 / 42, 1.0 / 10), -1.0 / 3), 1)
        let magnitude = x < 0.25 ? small : 1 - erfcMagnitude(x)
        return value < 0 ? -magnitude : magnitude
    }

    @inline(__always)
    static func erf(_ value: FloatVector) -> FloatVector {
        let x = value.replacing(with: -value, where: value .< 0)
        let x2 = x * x
        let series = fma(x2, fma(x2, FloatVector(repeating: -1.0 / 42), FloatVector(repeating: 1.0 / 10)),
                         FloatVector(repeating: -1.0 / 3))
        let small = 1.128_379_17 * x * fma(x2, series, FloatVector(repeating: 1))
        let magnitude = (1 - erfcMagnitude(x)).replacing(with: small, where: x .< 0.25)
        return magnitude.replacing(with: -magnitude, where: value .< 0)
    }

    /// x · Φ(x) = x/2 · (1 + erf(x/√2)), the exact Gelu. 1 + erf is formed from erfc directly (no cancellation for
    /// negative x), so the small-argument series erf needs is not needed here.
    @inline(__always)
    static func gelu(_ value: FloatVector) -> FloatVector {
        let v = value * (1 / Float(2).squareRoot())
        let negative = v .< 0
        // |v| by clearing the sign bits (same-size reinterpretation, as in `exp`).
        let magnitude = unsafeBitCast(unsafeBitCast(v, to: SIMD8<UInt32>.self) & 0x7FFF_FFFF, to: FloatVector.self)
        let q = erfcMagnitude(magnitude)
        let onePlusErf = (2 - q).replacing(with: q, where: negative)
        return 0.5 * value * onePlusErf
    }

    @inline(__always)
    static func sigmoid(_ x: Float) -> Float {
        1 / (1 + exp(-x))
    }

    @inline(__always)
    static func sigmoid(_ x: FloatVector) -> FloatVector {
        1 / (1 + exp(-x))
    }

    /// Relative error below 1e-6: near 0, where 1 - 2 / (e^{2x} + 1) cancels, the Taylor series takes over.
    @inline(__always)
    static func tanh(_ x: Float) -> Float {
        let large = 1 - 2 / (exp(2 * x) + 1)
        let x2 = x * x
        let small = x * fma(x2, fma(x2, fma(x2, -17.0 / 315, 2.0 / 15), -1.0 / 3), 1)
        return Swift.abs(x) < 0.1 ? small : large
    }

    @inline(__always)
    static func tanh(_ x: FloatVector) -> FloatVector {
        let large = 1 - 2 / (exp(2 * x) + 1)
        let x2 = x * x
        let series = fma(x2, fma(x2, FloatVector(repeating: -17.0 / 315), FloatVector(repeating: 2.0 / 15)),
                         FloatVector(repeating: -1.0 / 3))
        let small = x * fma(x2, series, FloatVector(repeating: 1))
        let magnitude = x.replacing(with: -x, where: x .< 0)
        return large.replacing(with: small, where: magnitude .< 0.1)
    }
}
