import Foundation
import Inference
import Testing

/// DFT and STFT against the textbook sum X[k] = Σⱼ x[j]·e^(∓2πi·jk/n), computed here with a cosine and a sine per term.
@Suite struct DFTTests {
    /// A deterministic complex signal of `n` samples, interleaved (re, im), with some exact zeros (skipped terms).
    private func signal(_ n: Int) -> [Float] {
        var values: [Float] = []
        for j in 0..<n {
            let t = Double(j)
            let re = sin(t * 0.37) + 0.1 * Double(j % 3), im = cos(t * 0.11)
            values += j % 5 == 3 ? [0, 0] : [Float(re), Float(im)]
        }
        return values
    }

    private func textbook(_ x: [Float], inverse: Bool) -> [Double] {
        let n = x.count / 2
        let sign = inverse ? 1.0 : -1.0
        return (0..<n).flatMap { k -> [Double] in
            var (re, im) = (0.0, 0.0)
            for j in 0..<n {
                let angle = sign * 2 * Double.pi * Double(j) * Double(k) / Double(n)
                let (a, b) = (Double(x[2 * j]), Double(x[2 * j + 1]))
                re += a * cos(angle) - b * sin(angle)
                im += a * sin(angle) + b * cos(angle)
            }
            return inverse ? [re / Double(n), im / Double(n)] : [re, im]
        }
    }

    /// 7: direct sums; 16, 1024: radix-2; 1000, 1031 (prime), 1829: Bluestein.
    @Test(arguments: [1, 2, 7, 16, 1000, 1024, 1031, 1829])
    func forwardAndInverseMatchTheDefinition(n: Int) throws {
        let x = signal(n)
        for inverse in [false, true] {
            let y = try runNode("DFT", [floats(x, [1, n, 2])], opset: 17, attributes: ["inverse": inverse ? 1 : 0])[0]
            #expect(y.shape == [1, n, 2])
            let expected = textbook(x, inverse: inverse)
            let got = y.array(of: Float.self)
            // float32 output of a sum of n terms of magnitude ≤ 1.2: bound by n·ε(float) on the largest term.
            let bound = Double(n) * 1.2 * 1.2e-7 * (inverse ? 1 / Double(n) : 1) + 1e-6
            for i in expected.indices {
                #expect(abs(Double(got[i]) - expected[i]) <= bound, "n \(n) inverse \(inverse) element \(i)")
            }
        }
    }

    /// 64: radix-2; 1829 (the frame of a fuzzer-found timeout): Bluestein.
    @Test(arguments: [64, 1829])
    func aOnesidedFrameKeepsTheFirstHalfOfTheTransform(n: Int) throws {
        // A real signal of n samples, one frame: bins 0...n/2 of the full transform.
        let real = (0..<n).map { Float(sin(Double($0) * 0.9) + 0.25) }
        let y = try runNode(
            "STFT", [floats(real, [1, n, 1]), int64s([Int64(n)], []), floats([Float](repeating: 1, count: n), [n])],
            opset: 17, constantInputs: [1, 2])[0]
        let bins = n / 2 + 1
        #expect(y.shape == [1, 1, bins, 2])
        let expected = textbook(real.flatMap { [$0, 0] }, inverse: false)
        let got = y.array(of: Float.self)
        let bound = Double(n) * 1.25 * 1.2e-7 + 1e-6
        for i in 0..<(2 * bins) { #expect(abs(Double(got[i]) - expected[i]) <= bound, "element \(i)") }
    }

    @Test func stftFramesAreTheTransformsOfTheirWindows() throws {
        // Length 40, frames of 12 (a window of ones) every 7 samples: 5 frames, 12 bins each (two-sided, complex).
        let x = signal(40)
        let window = floats([Float](repeating: 1, count: 12), [12])
        let y = try runNode(
            "STFT", [floats(x, [1, 40, 2]), int64s([7], []), window], opset: 17, attributes: ["onesided": 0],
            constantInputs: [1, 2])[0]
        #expect(y.shape == [1, 5, 12, 2])
        let got = y.array(of: Float.self)
        for frame in 0..<5 {
            let expected = textbook(Array(x[(frame * 14)..<(frame * 14 + 24)]), inverse: false)
            for i in expected.indices {
                #expect(abs(Double(got[frame * 24 + i]) - expected[i]) <= 1e-5, "frame \(frame) element \(i)")
            }
        }
    }

    /// Real frames are transformed two at a time (one as the real, one as the imaginary part); 7 frames leave the
    /// last one alone. Both one- and two-sided output.
    @Test(arguments: [(50, true), (57, true), (57, false)])
    func realFramesMatchTheirOwnTransforms(length: Int, onesided: Bool) throws {
        let real = (0..<length).map { Float(sin(Double($0) * 0.61) + 0.1 * Double($0 % 4)) }
        let window = (0..<12).map { Float(0.5 - 0.5 * cos(2 * Double.pi * Double($0) / 12)) }
        let y = try runNode(
            "STFT", [floats(real, [1, length, 1]), int64s([7], []), floats(window, [12])], opset: 17,
            attributes: ["onesided": onesided ? 1 : 0], constantInputs: [1, 2])[0]
        let frames = 1 + (length - 12) / 7, bins = onesided ? 7 : 12
        #expect(y.shape == [1, frames, bins, 2])
        let got = y.array(of: Float.self)
        for frame in 0..<frames {
            let windowed = (0..<12).flatMap { [real[frame * 7 + $0] * window[$0], Float(0)] }
            let expected = textbook(windowed, inverse: false)
            for i in 0..<(2 * bins) {
                #expect(abs(Double(got[(frame * bins) * 2 + i]) - expected[i]) <= 1e-5, "frame \(frame) element \(i)")
            }
        }
    }

    /// A transform's tables and work buffers count against the session's memory limit: a 100,003-point DFT
    /// (Bluestein, 262,144-point FFTs: ≈ 14 MB of doubles) is refused under an 8 MB limit, before anything is
    /// allocated for it.
    @Test func aTransformWhoseWorkingMemoryPassesTheLimitIsRefused() throws {
        let n = 100_003
        let x = floats([Float](repeating: 0.5, count: 2 * n), [1, n, 2])
        do {
            _ = try runNode("DFT", [x], opset: 17, memoryLimit: 8 << 20)
            Issue.record("a DFT needing ≈ 14 MB ran under an 8 MB limit")
        } catch InferenceError.resourceExhausted(let message) {
            #expect(message.contains("100003-point Fourier transform"), "\(message)")
        }
    }
}
