import Foundation

/// DFT on float32 and float64 signals [..., N, 1] (real) or [..., N, 2] (complex), along `axis` (an attribute,
/// default 1, before opset 20; an optional input, default −2, from then on), zero-padded or cut to `dft_length`.
/// Forward gives [..., n, 2] (the first n/2 + 1 bins when `onesided`); `inverse` divides by n, and with `onesided`
/// takes a half spectrum to a real signal [..., n, 1] (the other half by Hermitian symmetry). Per line, in
/// double precision (`FourierTransform`).
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
        func transform<T: BinaryFloatingPoint>(_: T.Type) throws {
            let src = x.elements(as: T.self), dst = y.mutableElements(as: T.self)
            let outWidth = shape[x.rank - 1]
            var signal = [(Double, Double)](repeating: (0, 0), count: n)
            // The kernel's own line buffers: the signal, and the full spectrum for a real output.
            let fourier = try FourierTransform(
                count: n, bins: outLength, inverse: inverse, extraBytes: 16 * n * (realOutput ? 2 : 1), checkingWith: io)
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
                    fourier(signal) { k, re, im in
                        let at = ((o * outLength + k) * inner + i) * outWidth
                        dst[at] = T(re)
                        if outWidth == 2 { dst[at + 1] = T(im) }
                    }
                    if realOutput { signal = [(Double, Double)](repeating: (0, 0), count: n) }
                }
            }
        }
        switch x.elementType {
        case .float32: try transform(Float.self)
        case .float64: try transform(Double.self)
        default: throw InferenceError.invalidInput("DFT does not take \(x.elementType)")
        }
    }
}
