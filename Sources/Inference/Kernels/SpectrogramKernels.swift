import Foundation

/// STFT (opset 17): the short-time Fourier transform of signals [batch, length, 1] (real) or [batch, length, 2]
/// (complex): frames of `frame_length` samples every `frame_step`, each multiplied by `window` (ones when absent),
/// transformed → [batch, frames, bins, 2], frames = 1 + (length − frame_length) / frame_step, bins = frame_length / 2 + 1
/// when `onesided` (the default, real signals only) else frame_length. float32 or float64.
struct STFTKernel: Kernel {
    let onesided: Bool

    init(_ node: NodeDefinition) throws {
        try node.expectInputs(2, 4)
        onesided = try node.attributes.int("onesided", default: 1) != 0
    }

    func run(_ io: NodeIO) throws {
        let x = try io.requiredInput(0)
        guard x.rank == 3, x.shape[2] == 1 || x.shape[2] == 2 else {
            throw InferenceError.invalidInput("STFT takes a signal [batch, length, 1 or 2], got \(x.shape)")
        }
        let (batches, length, parts) = (x.shape[0], x.shape[1], x.shape[2])
        guard let step = try io.requiredInput(1).integerList("STFT frame_step").first, step > 0 else {
            throw InferenceError.invalidInput("STFT frame_step must be a positive integer")
        }
        let window = io.input(2).flatMap { $0.count > 0 ? $0 : nil }
        let given = try io.input(3).flatMap { $0.count > 0 ? try $0.integerList("STFT frame_length").first : nil }
        let frameLength = given ?? window?.count ?? length
        if let window, window.count != frameLength {
            throw InferenceError.invalidInput("STFT window has \(window.count) samples, frame_length is \(frameLength)")
        }
        guard frameLength > 0, frameLength <= length else {
            throw InferenceError.invalidInput("STFT frame_length \(frameLength) must be in 1...\(length)")
        }
        guard !(onesided && parts == 2) else {
            throw InferenceError.invalidInput("STFT onesided takes a real signal [batch, length, 1]")
        }
        let frames = 1 + (length - frameLength) / step
        let bins = onesided ? frameLength / 2 + 1 : frameLength
        let y = try io.output(0, x.elementType, [batches, frames, bins, 2])
        func transform<T: BinaryFloatingPoint>(_: T.Type) throws {
            let src = x.elements(as: T.self), dst = y.mutableElements(as: T.self)
            let weights: [Double] = try window.map { w in
                switch w.elementType {
                case .float32: w.elements(as: Float.self).map(Double.init)
                case .float64: w.elements(as: Double.self).map { $0 }
                default: throw InferenceError.invalidInput("STFT window must be float32 or float64, got \(w.elementType)")
                }
            } ?? [Double](repeating: 1, count: frameLength)
            var signal = [(Double, Double)](repeating: (0, 0), count: frameLength)
            func write(_ b: Int, _ f: Int, _ k: Int, _ re: Double, _ im: Double) {
                let at = ((b * frames + f) * bins + k) * 2
                dst[at] = T(re)
                dst[at + 1] = T(im)
            }
            guard parts == 1 else {
                let fourier = try FourierTransform(
                    count: frameLength, bins: bins, inverse: false, extraBytes: 24 * frameLength, checkingWith: io)
                for b in 0..<batches {
                    for f in 0..<frames {
                        for j in 0..<frameLength {
                            let at = (b * length + f * step + j) * 2
                            signal[j] = (Double(src[at]) * weights[j], Double(src[at + 1]) * weights[j])
                        }
                        fourier(signal) { k, re, im in write(b, f, k, re, im) }
                    }
                }
                return
            }
            // Real frames two at a time: frame f as the real part and f + 1 as the imaginary part of one transform Z,
            // separated by symmetry, X_f[k] = (Z[k] + Z̄[n − k]) / 2 and X_{f+1}[k] = (Z[k] − Z̄[n − k]) / 2i.
            let n = frameLength
            let fourier = try FourierTransform(count: n, bins: n, inverse: false, extraBytes: 40 * n, checkingWith: io)
            var spectrum = [(Double, Double)](repeating: (0, 0), count: n)
            for b in 0..<batches {
                for f in stride(from: 0, to: frames, by: 2) {
                    let paired = f + 1 < frames
                    for j in 0..<n {
                        let at = b * length + f * step + j
                        signal[j] = (Double(src[at]) * weights[j], paired ? Double(src[at + step]) * weights[j] : 0)
                    }
                    fourier(signal) { k, re, im in spectrum[k] = (re, im) }
                    for k in 0..<bins {
                        let (zr, zi) = spectrum[k], (wr, wi) = spectrum[k == 0 ? 0 : n - k]
                        write(b, f, k, (zr + wr) / 2, (zi - wi) / 2)
                        if paired { write(b, f + 1, k, (zi + wi) / 2, (wr - zr) / 2) }
                    }
                }
            }
        }
        switch x.elementType {
        case .float32: try transform(Float.self)
        case .float64: try transform(Double.self)
        default: throw InferenceError.invalidInput("STFT does not take \(x.elementType)")
        }
    }
}

/// MelWeightMatrix (opset 17): [dft_length / 2 + 1, num_mel_bins] triangular filters that map a spectrogram's
/// bins to mel bands between lower_edge_hertz and upper_edge_hertz (the band edges as ONNX's reference and
/// onnxruntime compute them: mel range split into num_mel_bins + 2 steps, edges floored to DFT bins). The output type
/// is `output_datatype` (float32 by default, or float64).
struct MelWeightMatrixKernel: Kernel {
    let outputType: ElementType

    init(_ node: NodeDefinition) throws {
        try node.expectInputs(5)
        let number = try node.attributes.int("output_datatype", default: Int(ElementType.float32.rawValue))
        guard let type = ElementType(rawValue: Int32(clamping: number)), type == .float32 || type == .float64 else {
            throw InferenceError.unsupported(["MelWeightMatrix output_datatype \(number)"])
        }
        outputType = type
    }

    func run(_ io: NodeIO) throws {
        func integer(_ position: Int, _ name: String) throws -> Int {
            guard let value = try io.requiredInput(position).integerList("MelWeightMatrix \(name)").first else {
                throw InferenceError.invalidInput("MelWeightMatrix \(name) must be a scalar")
            }
            return value
        }
        func hertz(_ position: Int, _ name: String) throws -> Double {
            let tensor = try io.requiredInput(position)
            guard tensor.count == 1 else { throw InferenceError.invalidInput("MelWeightMatrix \(name) must be a scalar") }
            switch tensor.elementType {
            case .float32: return Double(tensor.elements(as: Float.self)[0])
            case .float64: return tensor.elements(as: Double.self)[0]
            default: throw InferenceError.invalidInput("MelWeightMatrix \(name) must be float32 or float64")
            }
        }
        let melBins = try integer(0, "num_mel_bins"), dftLength = try integer(1, "dft_length")
        let sampleRate = try integer(2, "sample_rate")
        let (lower, upper) = (try hertz(3, "lower_edge_hertz"), try hertz(4, "upper_edge_hertz"))
        guard melBins > 0, dftLength > 0, dftLength <= 1 << 24, sampleRate > 0, lower >= 0, upper > lower, upper.isFinite else {
            throw InferenceError.invalidInput(
                "MelWeightMatrix needs positive num_mel_bins, sample_rate and dft_length (at most 2^24) and 0 ≤ lower < upper hertz, finite")
        }
        let spectrumBins = dftLength / 2 + 1
        // The output first: its shape and the session's memory limit bound num_mel_bins before anything is sized by it.
        let y = try io.output(0, outputType, [spectrumBins, melBins])
        let mel = { (hz: Double) in 2595 * Foundation.log10(1 + hz / 700) }
        let (low, high) = (mel(lower), mel(upper))
        let step = (high - low) / Double(melBins + 2)
        // Each band edge's spectrum bin, checked as a float first (a huge upper edge would not convert to Int).
        var edges: [Int] = []
        edges.reserveCapacity(melBins + 2)
        for i in 0..<(melBins + 2) {
            let hz = 700 * (Foundation.pow(10, (Double(i) * step + low) / 2595) - 1)
            let bin = (Double(dftLength + 1) * hz / Double(sampleRate)).rounded(.down)
            guard bin >= 0, bin < Double(spectrumBins) else {
                throw InferenceError.invalidInput(
                    "MelWeightMatrix upper_edge_hertz \(upper) lies beyond the spectrum of sample_rate \(sampleRate)")
            }
            edges.append(Int(bin))
        }
        try io.checkWorkingMemory(8 * spectrumBins * melBins, for: "MelWeightMatrix's double-precision weights")
        var weights = [Double](repeating: 0, count: spectrumBins * melBins)
        for band in 0..<melBins {
            let (left, centre, right) = (edges[band], edges[band + 1], edges[band + 2])
            if centre == left {
                weights[centre * melBins + band] = 1
            } else {
                for j in left...centre { weights[j * melBins + band] = Double(j - left) / Double(centre - left) }
            }
            if right > centre {
                for j in centre..<right { weights[j * melBins + band] = Double(right - j) / Double(right - centre) }
            }
        }
        if outputType == .float32 {
            _ = y.mutableElements(as: Float.self).update(fromContentsOf: weights.map { Float($0) })
        } else {
            _ = y.mutableElements(as: Double.self).update(fromContentsOf: weights)
        }
    }
}
