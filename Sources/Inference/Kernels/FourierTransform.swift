import Foundation

/// An n-point discrete Fourier transform in double precision, planned once per kernel run and applied to each line:
/// X[k] = Σⱼ x[j]·e^(∓2πi·jk/n) (the inverse, +, divides by n).
///
/// Powers of two use the radix-2 FFT; other lengths use Bluestein's chirp-z algorithm (the transform written as a
/// convolution, done by power-of-two FFTs of at least 2n − 1 points) unless the direct O(n · bins) sums are cheaper,
/// as for short frames or few bins. Every method is O(n log n) or better per line once n is large, so a long
/// transform of an awkward length (a 1,829-sample STFT frame) costs what a power-of-two one does.
struct FourierTransform {
    private enum Method {
        case direct(Twiddles)
        case radix2(Twiddles)
        case bluestein(Bluestein)
    }

    let count: Int
    let bins: Int
    let inverse: Bool
    private let method: Method

    /// Plans the first `bins` (≤ n) bins of an n-point transform (n > 0), after checking the plan's tables and one
    /// line's buffers (plus `extraBytes` the caller keeps per line) against the session's memory limit.
    ///
    /// - Throws: `.resourceExhausted` when they do not fit.
    init(count n: Int, bins: Int, inverse: Bool, extraBytes: Int = 0, checkingWith io: NodeIO) throws(InferenceError) {
        precondition(n > 0 && bins >= 0 && bins <= n, "a Fourier transform needs n > 0 and at most n bins")
        let bluestein = Self.usesBluestein(count: n, bins: bins)
        // Twiddles and the transformed copies, or Bluestein's chirp, filter spectrum and two padded work arrays;
        // 16 bytes per complex value.
        let workingBytes = bluestein ? 16 * (3 * Bluestein.paddedCount(n) + n) : 16 * 3 * n
        try io.checkWorkingMemory(workingBytes + extraBytes, for: "a \(n)-point Fourier transform")
        (count, self.bins, self.inverse) = (n, bins, inverse)
        method = bluestein ? .bluestein(Bluestein(count: n, sign: inverse ? 1 : -1))
            : n & (n - 1) == 0 ? .radix2(Twiddles(n)) : .direct(Twiddles(n))
    }

    /// Whether an n-point transform of `bins` bins goes through Bluestein: n is not a power of two and direct sums
    /// (n·bins multiply-adds) cost more than two padded FFTs (≈ 5·m·log₂m flops each) and the chirp products.
    private static func usesBluestein(count n: Int, bins: Int) -> Bool {
        guard n & (n - 1) != 0 else { return false }
        let padded = Bluestein.paddedCount(n)
        let fftCost = 10 * padded * padded.trailingZeroBitCount + 8 * padded
        let (direct, overflow) = n.multipliedReportingOverflow(by: bins)
        return overflow || direct > fftCost
    }

    /// Transforms `signal` (n samples as (real, imaginary)) and hands each of the first `bins` bins to `bin` as
    /// (k, real, imaginary), scaled by 1/n when inverse.
    func callAsFunction(_ signal: [(Double, Double)], _ bin: (Int, Double, Double) -> Void) {
        precondition(signal.count == count, "the signal has \(signal.count) samples, the plan \(count)")
        let scale = inverse ? 1 / Double(count) : 1
        switch method {
        case .radix2(let twiddles):
            var re = signal.map(\.0), im = signal.map(\.1)
            twiddles.radix2(&re, &im, sign: inverse ? 1 : -1)
            for k in 0..<bins { bin(k, re[k] * scale, im[k] * scale) }
        case .bluestein(let bluestein):
            bluestein.transform(signal, bins: bins) { k, re, im in bin(k, re * scale, im * scale) }
        case .direct(let twiddles):
            directSums(signal, twiddles: twiddles, scale: scale, bin)
        }
    }

    private func directSums(
        _ signal: [(Double, Double)], twiddles: Twiddles, scale: Double, _ bin: (Int, Double, Double) -> Void
    ) {
        let n = count, sign = inverse ? 1.0 : -1.0
        signal.withUnsafeBufferPointer { signal in
            twiddles.cosines.withUnsafeBufferPointer { cosines in
                twiddles.sines.withUnsafeBufferPointer { sines in
                    for k in 0..<bins {
                        var (re, im) = (0.0, 0.0)
                        // m = j·k mod n, stepped rather than multiplied (j·k overflows for long signals).
                        var m = 0
                        for j in 0..<n {
                            let (a, b) = signal[j]
                            if a != 0 || b != 0 {
                                let (c, s) = (cosines[m], sign * sines[m])
                                re += a * c - b * s
                                im += a * s + b * c
                            }
                            m += k
                            if m >= n { m -= n }
                        }
                        bin(k, re * scale, im * scale)
                    }
                }
            }
        }
    }
}
