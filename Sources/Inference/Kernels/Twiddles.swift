import Foundation

/// cos and sin of 2π·m / n for m in 0..<n: the factors of every n-point Fourier transform (DFT, STFT), computed once
/// per kernel run rather than a cosine and a sine per term.
struct Twiddles {
    let cosines: [Double]
    let sines: [Double]
    var count: Int { cosines.count }

    init(_ n: Int) {
        let angles = (0..<n).map { 2 * Double.pi * Double($0) / Double(n) }
        cosines = angles.map { Foundation.cos($0) }
        sines = angles.map { Foundation.sin($0) }
    }

    /// Transforms `re` + i·`im` in place: X[k] = Σⱼ x[j]·e^(sign·2πi·jk/n), unscaled, by the iterative radix-2
    /// Cooley–Tukey FFT. n (the arrays' length and `count`) must be a power of two.
    func radix2(_ re: inout [Double], _ im: inout [Double], sign: Double) {
        let n = count
        precondition(re.count == n && im.count == n && n > 0 && n & (n - 1) == 0, "radix-2 needs a power-of-two length")
        // Bit-reversed order first, so every stage combines neighbouring blocks in place.
        var j = 0
        for i in 1..<n {
            var bit = n >> 1
            while j & bit != 0 {
                j ^= bit
                bit >>= 1
            }
            j |= bit
            if i < j {
                re.swapAt(i, j)
                im.swapAt(i, j)
            }
        }
        var length = 2
        while length <= n {
            let half = length / 2, step = n / length
            for start in stride(from: 0, to: n, by: length) {
                for k in 0..<half {
                    // e^(sign·2πi·k/length) = the n-point factor k·step.
                    let (c, s) = (cosines[k * step], sign * sines[k * step])
                    let (a, b) = (start + k, start + k + half)
                    let (vr, vi) = (re[b] * c - im[b] * s, re[b] * s + im[b] * c)
                    (re[b], im[b]) = (re[a] - vr, im[a] - vi)
                    (re[a], im[a]) = (re[a] + vr, im[a] + vi)
                }
            }
            length <<= 1
        }
    }
}
