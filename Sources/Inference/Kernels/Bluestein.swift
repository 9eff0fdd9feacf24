import Foundation

/// Bluestein's chirp-z transform for one length n and direction: with the chirp c[j] = e^(sign·πi·j²/n),
/// jk = (j² + k² − (k − j)²) / 2 turns the transform into X[k] = c[k] · Σⱼ (x[j]·c[j]) · c̄[k − j], a convolution,
/// computed by radix-2 FFTs of `paddedCount(n)` points. The filter's spectrum is made once, here.
struct Bluestein {
    let count: Int
    private let sign: Double
    /// c[j] for j in 0..<n.
    private let chirpRe: [Double], chirpIm: [Double]
    /// The FFT of the filter c̄[t] (t in −(n − 1)...(n − 1), wrapped around the padded length).
    private let filterRe: [Double], filterIm: [Double]
    private let twiddles: Twiddles

    /// The smallest power of two ≥ 2n − 1: the convolution's length without wrap-around.
    static func paddedCount(_ n: Int) -> Int {
        var m = 1
        while m < 2 * n - 1 { m <<= 1 }
        return m
    }

    init(count n: Int, sign: Double) {
        (count, self.sign) = (n, sign)
        let m = Self.paddedCount(n)
        twiddles = Twiddles(m)
        var re = [Double](repeating: 0, count: n), im = [Double](repeating: 0, count: n)
        // j² mod 2n, stepped ((j + 1)² = j² + 2j + 1), so the angle π·(j² mod 2n)/n stays exact for any n.
        var square = 0
        for j in 0..<n {
            let angle = Double.pi * Double(square) / Double(n)
            (re[j], im[j]) = (Foundation.cos(angle), sign * Foundation.sin(angle))
            square += 2 * j + 1
            if square >= 2 * n { square -= 2 * n }
        }
        (chirpRe, chirpIm) = (re, im)
        var fRe = [Double](repeating: 0, count: m), fIm = [Double](repeating: 0, count: m)
        for t in 0..<n {
            (fRe[t], fIm[t]) = (re[t], -im[t])
            if t > 0 { (fRe[m - t], fIm[m - t]) = (re[t], -im[t]) }
        }
        twiddles.radix2(&fRe, &fIm, sign: -1)
        (filterRe, filterIm) = (fRe, fIm)
    }

    /// The first `bins` bins of the unscaled transform of `signal` (n samples), handed to `bin` as (k, re, im).
    func transform(_ signal: [(Double, Double)], bins: Int, _ bin: (Int, Double, Double) -> Void) {
        let m = twiddles.count
        var re = [Double](repeating: 0, count: m), im = [Double](repeating: 0, count: m)
        for j in 0..<count {
            let (a, b) = signal[j], (c, s) = (chirpRe[j], chirpIm[j])
            (re[j], im[j]) = (a * c - b * s, a * s + b * c)
        }
        twiddles.radix2(&re, &im, sign: -1)
        for t in 0..<m {
            let (a, b) = (re[t], im[t]), (c, s) = (filterRe[t], filterIm[t])
            (re[t], im[t]) = (a * c - b * s, a * s + b * c)
        }
        twiddles.radix2(&re, &im, sign: 1)
        let scale = 1 / Double(m)
        for k in 0..<bins {
            let (a, b) = (re[k] * scale, im[k] * scale), (c, s) = (chirpRe[k], chirpIm[k])
            bin(k, a * c - b * s, a * s + b * c)
        }
    }
}
