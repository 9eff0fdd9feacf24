import Foundation
import Inference
import Testing
import ZServeTesting

/// The operators that generate values (window functions, EyeLike, MelWeightMatrix, AffineGrid) in every output type.
@Suite struct GeneratorKernelTests {
    @Test func windowsFollowTheirFormulaInFloatAndTruncateInIntegers() throws {
        let size = int64s([4], [])
        let hann = try runNode("HannWindow", [size], opset: 17)[0].array(of: Float.self)
        let expected = (0..<4).map { Float(0.5 - 0.5 * cos(2 * Double.pi * Double($0) / 4)) }
        #expect(hann == expected)
        // Hamming's coefficients are 0.087 … 1: as int64 only the centre (cos π) is 1.
        let hamming = try runNode("HammingWindow", [size], opset: 17, attributes: ["output_datatype": 7])[0]
        #expect(hamming.array(of: Int64.self) == [0, 0, 1, 0])
    }

    @Test func aOnePointSymmetricWindowIsDefinedInEveryType() throws {
        // N = size − 1 = 0: the coefficient is 0/0. Float outputs carry the NaN (as ONNX's reference does); integer
        // outputs saturate it to 0 instead of trapping the process.
        let one = int64s([1], [])
        let float = try runNode("BlackmanWindow", [one], opset: 17, attributes: ["periodic": 0])[0]
        #expect(float.array(of: Float.self)[0].isNaN)
        let integer = try runNode("BlackmanWindow", [one], opset: 17, attributes: ["periodic": 0, "output_datatype": 6])[0]
        #expect(integer.array(of: Int32.self) == [0])
    }

    @Test func eyeLikePutsOnesOnItsDiagonalInTheRequestedType() throws {
        let x = floats([Float](repeating: 7, count: 12), [3, 4])
        let eye = try runNode("EyeLike", [x], attributes: ["k": 1, "dtype": 5])[0]
        #expect(eye.elementType == .int16)
        #expect(eye.array(of: Int16.self) == [0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1])
        let below = try runNode("EyeLike", [x], attributes: ["k": -2])[0]
        #expect(below.array(of: Float.self) == [0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0])
    }

    /// Found by the ONNX fuzzer: a huge num_mel_bins sized an array before the output was checked against the
    /// session's memory limit, and a huge upper edge trapped converting its bin to Int. Both are refused now.
    @Test func melWeightMatrixRefusesRunawayInputsBeforeSizingAnything() throws {
        func run(bins: Int64, upper: Float) throws -> [Tensor] {
            try runNode("MelWeightMatrix", [int64s([bins], []), int64s([512], []), int64s([16000], []),
                                            floats([20], []), floats([upper], [])], opset: 17)
        }
        #expect(try run(bins: 40, upper: 7600)[0].shape == [257, 40])
        #expect(throws: InferenceError.self) { try run(bins: 1 << 36, upper: 7600) }
        #expect(throws: InferenceError.invalidInput(
            "MelWeightMatrix #0: MelWeightMatrix upper_edge_hertz 9.999999680285692e+37 lies beyond the spectrum of sample_rate 16000")) {
            try run(bins: 40, upper: 1e38)
        }
    }

    /// Found by the ONNX fuzzer: a grid for a batch of 0 has no elements whatever its spatial size, and sized its
    /// coordinate lists by that size anyway (2^40 points).
    @Test func affineGridOfAnEmptyBatchSizesNothing() throws {
        let theta = floats([], [0, 2, 3])
        let grid = try runNode("AffineGrid", [theta, int64s([0, 1, 1 << 40, 2], [4])], opset: 20)[0]
        #expect(grid.shape == [0, 1 << 40, 2, 2])
        #expect(grid.count == 0)
    }
}
