import Foundation
import Inference
import Testing

/// GridSample on coordinates a model or a caller can send that lie outside what the interpolation formulas expect.
@Suite struct GridSampleTests {
    /// X [1, 1, 2, 2] = 1 2 / 3 4.
    private let image = floats([1, 2, 3, 4], [1, 1, 2, 2])

    private func sample(_ coordinates: [Float], padding: String, mode: String = "linear") throws -> [Float] {
        let grid = floats(coordinates, [1, 1, coordinates.count / 2, 2])
        let y = try runNode("GridSample", [image, grid], opset: 20, attributes: ["mode": mode, "padding_mode": padding])
        return y[0].array(of: Float.self)
    }

    @Test func coordinatesFarOutsideOrNaNReadZerosInsteadOfTrapping() throws {
        // A conversion of 1e30 or NaN to an integer index would stop the process; with zeros padding every tap there
        // reads a zero.
        for mode in ["nearest", "linear", "cubic"] {
            let y = try sample([1e30, 0, -1e30, 0.5, .nan, 0, 0, .infinity], padding: "zeros", mode: mode)
            #expect(y == [0, 0, 0, 0], "\(mode)")
        }
    }

    @Test func borderAndReflectionBringFarCoordinatesBackInside() throws {
        // x = +huge, y = −1 (the top row's centre line at align_corners 0 is y = −0.5): border clamps to the
        // top-right pixel.
        #expect(try sample([1e30, -1], padding: "border") == [2])
        // Reflection folds any finite coordinate into the image: the result is one of its interpolations.
        let reflected = try sample([1e30, 0.25, -3e20, -1e25], padding: "reflection")
        #expect(reflected.allSatisfy { $0 >= 1 && $0 <= 4 }, "\(reflected)")
    }

    @Test func inPlaceTapListsGiveTheBilinearFormula() throws {
        // At align_corners 0 a coordinate x maps to pixel ((x + 1)·2 − 1) / 2. (0, 0) → (0.5, 0.5): the mean of the
        // four pixels; (−0.25, −0.5) → column 0.25 on row 0: 1·0.75 + 2·0.25.
        #expect(try sample([0, 0], padding: "zeros") == [2.5])
        #expect(try sample([-0.25, -0.5], padding: "border") == [1.25])
    }

    @Test func tooManyTapsPerOutputAreRefused() throws {
        // Cubic over 9 spatial axes reads 4^9 = 262,144 inputs per output: refused as a request error, not computed.
        let axes = 9
        let x = floats([1], [1, 1] + [Int](repeating: 1, count: axes))
        let grid = floats([Float](repeating: 0, count: axes), [1] + [Int](repeating: 1, count: axes) + [axes])
        #expect(throws: InferenceError.self) {
            try runNode("GridSample", [x, grid], opset: 20, attributes: ["mode": "cubic"])
        }
        // Linear over the same axes (2^9 taps) runs.
        let linear = try runNode("GridSample", [x, grid], opset: 20, attributes: ["mode": "linear"])
        #expect(linear[0].count == 1)
    }
}
