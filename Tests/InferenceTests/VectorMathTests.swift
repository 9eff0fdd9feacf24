import Foundation
@testable import Inference
import Testing

/// The vector math kernels lean on: accuracy against libm in double precision, the scalar and eight-lane forms
/// agreeing, and the reductions at every tail length.
@Suite struct VectorMathTests {
    /// Evaluates `vector` on `inputs` eight at a time.
    private func lanes(_ inputs: [Float], _ vector: (FloatVector) -> FloatVector) -> [Float] {
        var outputs = [Float](repeating: 0, count: inputs.count)
        inputs.withUnsafeBufferPointer { src in
            outputs.withUnsafeMutableBufferPointer { dst in
                VectorLoop.map(src.baseAddress!, dst.baseAddress!, inputs.count, vector)
            }
        }
        return outputs
    }

    private let grid = stride(from: Float(-9), through: 9, by: 0.0137).map { $0 }

    @Test func expMatchesLibmAndLanesMatchScalar() {
        let inputs = stride(from: Float(-87), through: 88, by: 0.0731).map { $0 }
        let vector = lanes(inputs) { FastMath.exp($0) }
        for (x, v) in zip(inputs, vector) {
            let exact = Foundation.exp(Double(x))
            #expect(abs(Double(v) - exact) <= 3e-7 * exact, "exp(\(x)) = \(v), libm \(exact)")
            #expect(v == FastMath.exp(x), "exp(\(x)): lanes \(v), scalar \(FastMath.exp(x))")
        }
    }

    @Test func logMatchesLibmAndLanesMatchScalar() {
        // Every binade from the subnormals to the largest floats, densely around 1 (where log is near 0), and the
        // special values.
        var inputs: [Float] = [0, -0.0, -1, -.infinity, .infinity, .nan, .leastNonzeroMagnitude, .leastNormalMagnitude,
                               .greatestFiniteMagnitude, 1, 2, 0.5, 1.414_213_5, 1.414_213_6]
        inputs += stride(from: Float(-149), through: 127, by: 0.173).map { Float(Foundation.exp2(Double($0))) }
        inputs += stride(from: Float(0.9), through: 1.1, by: 0.000_37).map { $0 }
        let vector = lanes(inputs) { FastMath.log($0) }
        for (x, v) in zip(inputs, vector) {
            let exact = Foundation.log(Double(x))
            if exact.isNaN || exact.isInfinite {
                #expect(v.isNaN == exact.isNaN && (exact.isNaN || Double(v) == exact), "log(\(x)) = \(v), libm \(exact)")
            } else {
                #expect(abs(Double(v) - exact) <= 2.5e-7 * abs(exact) + 1e-7 * 1.2e-7, "log(\(x)) = \(v), libm \(exact)")
            }
            #expect(v.bitPattern == FastMath.log(x).bitPattern || (v.isNaN && FastMath.log(x).isNaN), "log(\(x)): lanes \(v), scalar \(FastMath.log(x))")
        }
    }

    @Test func erfTanhSigmoidAndGeluMatchLibm() {
        let erf = lanes(grid) { FastMath.erf($0) }
        let tanh = lanes(grid) { FastMath.tanh($0) }
        let sigmoid = lanes(grid) { FastMath.sigmoid($0) }
        let gelu = lanes(grid) { FastMath.gelu($0) }
        for (i, x) in grid.enumerated() {
            let d = Double(x)
            #expect(abs(Double(erf[i]) - Foundation.erf(d)) <= 4e-7, "erf(\(x))")
            #expect(abs(Double(tanh[i]) - Foundation.tanh(d)) <= 1e-6 * max(1e-3, abs(Foundation.tanh(d))) + 1e-9, "tanh(\(x))")
            #expect(abs(Double(sigmoid[i]) - 1 / (1 + Foundation.exp(-d))) <= 4e-7, "sigmoid(\(x))")
            let exactGelu = d / 2 * (1 + Foundation.erf(d / 2.0.squareRoot()))
            #expect(abs(Double(gelu[i]) - exactGelu) <= 5e-7 * max(1, abs(d)), "gelu(\(x)) = \(gelu[i]), exact \(exactGelu)")
            #expect(erf[i] == FastMath.erf(x) && tanh[i] == FastMath.tanh(x) && sigmoid[i] == FastMath.sigmoid(x))
        }
    }

    @Test(arguments: 0...40)
    func reductionsCoverEveryTailLength(count: Int) {
        let values = (0..<count).map { Float(($0 * 37) % 23) - 11.5 }
        values.withUnsafeBufferPointer { p in
            let base = p.baseAddress ?? UnsafePointer(bitPattern: 16)!
            #expect(VectorLoop.sum(base, count) == values.reduce(0, +))
            let mean = count > 0 ? values.reduce(0, +) / Float(count) : 0
            let squares = values.reduce(Float(0)) { $0 + ($1 - mean) * ($1 - mean) }
            #expect(abs(VectorLoop.sumOfSquares(base, count, around: mean) - squares) <= 1e-3 * max(1, squares))
            if count > 0 { #expect(VectorLoop.max(base, count) == values.max()) }
        }
    }

    @Test func maxIsNaNWhenAnyValueIs() {
        for position in [0, 5, 8, 12] {
            var values = [Float](repeating: 1, count: 13)
            values[position] = .nan
            #expect(values.withUnsafeBufferPointer { VectorLoop.max($0.baseAddress!, 13) }.isNaN)
        }
    }
}
