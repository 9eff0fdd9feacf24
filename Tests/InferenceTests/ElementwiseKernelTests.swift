import Foundation
@testable import Inference
import Testing
import ZServeTesting

@Suite struct ElementwiseKernelTests {
    @Test func addBroadcastsBothWays() throws {
        let column = floats([1, 2, 3], [3, 1])
        let row = floats([10, 20], [2])
        let y = try runNode("Add", [column, row])[0]
        #expect(y.shape == [3, 2])
        #expect(y.array(of: Float.self) == [11, 21, 12, 22, 13, 23])
    }

    @Test func subMulDivOnSameShapesAndScalars() throws {
        let x = floats([2, 4, 6, 8], [2, 2])
        let s = floats([2], [])
        #expect(try runNode("Sub", [x, s])[0].array(of: Float.self) == [0, 2, 4, 6])
        #expect(try runNode("Sub", [s, x])[0].array(of: Float.self) == [0, -2, -4, -6])
        #expect(try runNode("Mul", [x, x])[0].array(of: Float.self) == [4, 16, 36, 64])
        #expect(try runNode("Div", [x, s])[0].array(of: Float.self) == [1, 2, 3, 4])
    }

    @Test func broadcastOverMiddleAxis() throws {
        let x = floats((0..<12).map(Float.init), [2, 3, 2])
        let y = try runNode("Mul", [x, floats([1, 10, 100], [3, 1])])[0]
        #expect(y.array(of: Float.self) == [0, 1, 20, 30, 400, 500, 6, 7, 80, 90, 1000, 1100])
    }

    @Test func integerArithmeticTruncatesAndRefusesDivisionByZero() throws {
        let x = int64s([7, -7, 9], [3])
        #expect(try runNode("Div", [x, int64s([2], [1])])[0].array(of: Int64.self) == [3, -3, 4])
        #expect(try runNode("Add", [x, int64s([1, 2, 3], [3])])[0].array(of: Int64.self) == [8, -5, 12])
        #expect(throws: InferenceError.self) { try runNode("Div", [x, int64s([0], [1])]) }
    }

    @Test func outputsPastTheSessionMemoryLimitAreRefusedNotAllocated() throws {
        let column = floats([Float](repeating: 1, count: 100_000), [100_000, 1])
        let row = floats([Float](repeating: 1, count: 100_000), [1, 100_000])
        #expect {
            try runNode("Add", [column, row])
        } throws: { error in
            if case InferenceError.resourceExhausted = error { return true }
            return false
        }
    }

    @Test func emptyTensorsWithHugeDimensionsAreRefused() throws {
        var graph = ONNXGraphBuilder(opset: 17)
        graph.input("x", .float32, [nil, nil, 768])
        graph.node("Relu", ["x"], ["y"])
        graph.output("y", .float32, nil)
        let session = try Model(onnx: graph.serialized()).makeSession()
        #expect(throws: InferenceError.self) {
            try session.setInput(0, elementType: .float32, shape: [0, 1 << 54, 768], copying: UnsafeRawBufferPointer(start: nil, count: 0))
        }
    }

    @Test func mismatchedShapesAndTypesAreErrors() throws {
        #expect(throws: InferenceError.self) { try runNode("Add", [floats([1, 2], [2]), floats([1, 2, 3], [3])]) }
        #expect(throws: InferenceError.self) { try runNode("Add", [floats([1], [1]), int64s([1], [1])]) }
    }

    @Test func activations() throws {
        let x = floats([-2, 0, 3], [3])
        #expect(try runNode("Relu", [x])[0].array(of: Float.self) == [0, 0, 3])
        let sigmoid = try runNode("Sigmoid", [floats([-100, 0, 100, 1], [4])])[0].array(of: Float.self)
        #expect(sigmoid[0] >= 0 && sigmoid[0] < 1e-30)
        #expect(sigmoid[1] == 0.5)
        #expect(sigmoid[2] == 1)
        #expect(abs(sigmoid[3] - 0.7310586) < 1e-6)
        let tanh = try runNode("Tanh", [x])[0].array(of: Float.self)
        #expect(abs(tanh[0] - Foundation.tanh(-2)) < 1e-6 && tanh[1] == 0)
    }

    /// A Relu or Sigmoid reading only an Add/Sub's output (a residual connection's Add and the Relu after it) loads
    /// as one node and gives what the two nodes give: on equal shapes, a broadcast row, and a general broadcast.
    @Test(arguments: [
        ("Add", "Relu", [2, 3, 5], [2, 3, 5]), ("Sub", "Relu", [4, 6], [6]), ("Add", "Sigmoid", [2, 1, 3], [4, 1]),
        ("Mul", "Relu", [3, 1], [1, 5]),
    ])
    func anActivationFusesIntoTheArithmeticBeforeIt(_ op: String, _ activation: String, _ aShape: [Int], _ bShape: [Int]) throws {
        var random = SeededRandom(seed: UInt64(aShape.count * 10 + bShape.count))
        let a = random.tensor(aShape), b = random.tensor(bShape)
        var graph = ONNXGraphBuilder(opset: 17)
        graph.input("a", .float32, aShape)
        graph.input("b", .float32, bShape)
        graph.node(op, ["a", "b"], ["h"])
        graph.node(activation, ["h"], ["y"])
        graph.output("y", .float32, nil)
        let model = try Model(onnx: graph.serialized())
        #expect(model.operatorCounts == ["\(op)+\(activation)": 1])
        let session = model.makeSession()
        try session.setInput(0, a)
        try session.setInput(1, b)
        let y = try session.run()[0]
        let plain = try runNode(op, [a, b])[0]
        let expected = try runNode(activation, [plain])[0]
        #expect(y.shape == expected.shape)
        #expect(Tolerance.mismatch(y, expected, rtol: 1e-6, atol: 1e-7) == nil)
    }

    @Test func softmaxFollowsOpsetSemantics() throws {
        let x = floats([1, 2, 3, 4], [2, 2])
        let e1 = Float(1 / (1 + exp(1.0)))
        // opset 13, axis 0: per column.
        let columns = try runNode("Softmax", [x], opset: 13, attributes: ["axis": 0])[0].array(of: Float.self)
        let c = Float(1 / (1 + exp(2.0)))
        for (got, want) in zip(columns, [c, c, 1 - c, 1 - c]) { #expect(abs(got - want) < 1e-6) }
        // opset 13 default axis -1: per row.
        let rows = try runNode("Softmax", [x], opset: 13)[0].array(of: Float.self)
        for (got, want) in zip(rows, [e1, 1 - e1, e1, 1 - e1]) { #expect(abs(got - want) < 1e-6) }
        // opset 11, axis 0: the whole tensor is one distribution.
        let whole = try runNode("Softmax", [x], opset: 11, attributes: ["axis": 0])[0].array(of: Float.self)
        let total = (1...4).reduce(0.0) { $0 + exp(Double($1)) }
        for (got, power) in zip(whole, 1...4) { #expect(abs(Double(got) - exp(Double(power)) / total) < 1e-6) }
    }
}

@Suite struct FastMathTests {
    /// Points spread over each function's range, including tiny arguments where cancellation would show.
    static let points: [Float] = [-80, -20, -5, -1.5, -0.3, -0.01, -1e-5, 0, 1e-6, 0.002, 0.09, 0.11, 0.26, 1, 3.7, 9, 40, 85]

    @Test func matchesLibmToSinglePrecision() {
        for x in Self.points {
            func close(_ fast: Float, _ exact: Double, _ name: String) {
                let error = abs(Double(fast) - exact)
                #expect(error <= 1e-6 * abs(exact) + 1e-37, "\(name)(\(x)) = \(fast), libm \(exact)")
            }
            close(FastMath.exp(x), Foundation.exp(Double(x)), "exp")
            close(FastMath.tanh(x), Foundation.tanh(Double(x)), "tanh")
            close(FastMath.erf(x), Foundation.erf(Double(x)), "erf")
        }
    }
}
