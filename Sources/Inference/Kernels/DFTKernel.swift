import Foundation

/// DFT on float32 and float64 signals [..., N, 1] (real) or [..., N, 2] (complex), along `axis` (an attribute,
/// default 1, before opset 20; an optional input, default −2, from then on), zero-padded or cut to `dft_length`.
/// Forward gives [..., n, 2] (the first n/2 + 1 bins when `onesided`); `inverse` divides by n, and with `onesided`
/// takes a half spectrum to a real signal [..., n, 1] (the other half by Hermitian symmetry). Per line, in
/// double precision: a radix-2 FFT for power-of-two lengths, direct sums otherwise (`transform`).
struct DFTKernel: Kernel {
    let inverse: Bool
    let onesided: Bool
    let attributeAxis: Int?

    init(_ node: NodeDefinition) throws {
        try node.expectInputs(1, node.opsetVersion >= 20 ? 3 : 2)
        inverse = try node.attributes.int("inverse", default: 0) != 0
        onesided = try node.attributes.int("onesided", default: 0) != 0
        attributeAxis = node.opsetVersion >= 20 ? nil : try node.attributes.int("axis", default: 1)
    }

    func run(_ io: NodeIO) throws {
        let x = try io.requiredInput(0)
        guard x.rank >= 2, let last = x.shape.last, last == 1 || last == 2 else {
            throw InferenceError.invalidInput("DFT takes [..., N, 1] or [..., N, 2], got \(x.shape)")
        }
        var axis = try attributeAxis ?? io.input(2).map { try $0.integerList("DFT axis").first ?? -2 } ?? -2
        if axis < 0 { axis += x.rank }
        guard axis >= 0 && axis < x.rank - 1 else { throw InferenceError.invalidInput("DFT axis \(axis) does not fit \(x.shape)") }
        let length = x.shape[axis]
        let given = try io.input(1).flatMap { $0.count > 0 ? try $0.integerList("DFT dft_length").first : nil }
        let n = given ?? (inverse && onesided ? 2 * (length - 1) : length)
        guard n > 0 else { throw InferenceError.invalidInput("DFT length \(n) must be positive") }
        let realOutput = inverse && onesided
        let outLength = realOutput ? n : (onesided ? n / 2 + 1 : n)
        var shape = x.shape
        shape[axis] = outLength
        shape[x.rank - 1] = realOutput ? 1 : 2
        let y = try io.output(0, x.elementType, shape)
        let outer = x.shape[..<axis].reduce(1, *), inner = x.shape[(axis + 1)..<(x.rank - 1)].reduce(1, *)
        func transform<T: BinaryFloatingPoint>(_: T.Type) {
            let src = x.elements(as: T.self), dst = y.mutableElements(as: T.self)
            let outWidth = shape[x.rank - 1]
            var signal = [(Double, Double)](repeating: (0, 0), count: n)
            let twiddles = Twiddles(n)
            for o in 0..<outer {
                for i in 0..<inner {
                    for j in 0..<n {
                        guard j < length else { signal[j] = (0, 0); continue }
                        let at = ((o * length + j) * inner + i) * last
                        signal[j] = (Double(src[at]), last == 2 ? Double(src[at + 1]) : 0)
                    }
                    if realOutput {
                        // The full spectrum from its first half; bins 0 and n/2 are real.
                        let half = Swift.min(length, n / 2 + 1)
                        var full = [(Double, Double)](repeating: (0, 0), count: n)
                        for k in 0..<half { full[k] = signal[k] }
                        full[0].1 = 0
                        if n % 2 == 0, n / 2 < half { full[n / 2].1 = 0 }
                        for k in 1..<Swift.max(1, (n + 1) / 2) where k < half { full[n - k] = (full[k].0, -full[k].1) }
                        signal = full
                    }
                    Self.transform(signal, bins: outLength, inverse: inverse, twiddles: twiddles) { k, re, im in
                        let at = ((o * outLength + k) * inner + i) * outWidth
                        dst[at] = T(re)
                        if outWidth == 2 { dst[at + 1] = T(im) }
                    }
                    if realOutput { signal = [(Double, Double)](repeating: (0, 0), count: n) }
                }
            }
        }
        switch x.elementType {
        case .float32: transform(Float.self)
        case .float64: transform(Double.self)
        default: throw InferenceError.invalidInput("DFT does not take \(x.elementType)")
        }
    }

    /// The first `bins` bins (≤ n) of the discrete Fourier transform of `signal` (n = its length; the inverse divides
    /// by n), handed to `bin` as (k, real, imaginary), in double precision with the factors from `twiddles` (made for
    /// n): a radix-2 FFT when n is a power of two (O(n log n)), else direct O(n · bins) sums.
    static func transform(
        _ signal: [(Double, Double)], bins: Int, inverse: Bool, twiddles: Twiddles, _ bin: (Int, Double, Double) -> Void
    ) {
        let n = signal.count
        precondition(twiddles.count == n && bins <= n, "twiddles made for another length, or more bins than samples")
        let sign = inverse ? 1.0 : -1.0
        let scale = inverse ? 1 / Double(n) : 1
        if n > 1 && n & (n - 1) == 0 {
            var re = signal.map(\.0), im = signal.map(\.1)
            twiddles.radix2(&re, &im, sign: sign)
            for k in 0..<bins { bin(k, re[k] * scale, im[k] * scale) }
            return
        }
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
