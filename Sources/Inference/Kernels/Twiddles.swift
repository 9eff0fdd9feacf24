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
        re.withUnsafeMutableBufferPointer { re in
            im.withUnsafeMutableBufferPointer { im in
                cosines.withUnsafeBufferPointer { cosines in
                    sines.withUnsafeBufferPointer { sines in
                        // Safe: every index below is < n, the length of all four buffers (checked above).
                        Self.radix2(re.baseAddress!, im.baseAddress!, cosines.baseAddress!, sines.baseAddress!, n, sign)
                    }
                }
            }
        }
    }

    /// The FFT on raw buffers of `n` elements (a power of two), without bounds checks: a butterfly is a few flops,
    /// and each checked index would add a compare and a branch to it.
    private static func radix2(
        _ re: UnsafeMutablePointer<Double>, _ im: UnsafeMutablePointer<Double>, _ cosines: UnsafePointer<Double>,
        _ sines: UnsafePointer<Double>, _ n: Int, _ sign: Double
    ) {
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
                swap(&re[i], &re[j])
                swap(&im[i], &im[j])
            }
        }
        var length = 2
        while length <= n {
            let half = length >> 1, step = n / length
            for k in 0..<half {
                // e^(sign·2πi·k/length) = the n-point factor k·step; the same for every block of this stage.
                let c = cosines[k &* step], s = sign * sines[k &* step]
                var a = k
                while a < n {
                    let b = a &+ half
                    let vr = re[b] * c - im[b] * s, vi = re[b] * s + im[b] * c
                    let (ar, ai) = (re[a], im[a])
                    re[b] = ar - vr
                    im[b] = ai - vi
                    re[a] = ar + vr
                    im[a] = ai + vi
                    a &+= length
                }
            }
            length <<= 1
        }
    }
}
