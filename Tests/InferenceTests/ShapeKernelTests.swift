import Inference
import Testing
import ZServeTesting

@Suite struct ShapeKernelTests {
    let x = floats((0..<24).map(Float.init), [2, 3, 4])

    @Test(arguments: [(0, [1, 24]), (1, [2, 12]), (2, [6, 4]), (3, [24, 1]), (-1, [6, 4])])
    func flatten(axis: Int, shape: [Int]) throws {
        let y = try runNode("Flatten", [x], attributes: ["axis": axis])[0]
        #expect(y.shape == shape)
        #expect(y.array(of: Float.self) == x.array(of: Float.self))
    }

    @Test func reshapeCopiesZerosAndInfersMinusOne() throws {
        let y = try runNode("Reshape", [x, int64s([0, -1], [2])], constantInputs: [1])[0]
        #expect(y.shape == [2, 12])
        #expect(try runNode("Reshape", [x, int64s([-1, 2, 2], [3])])[0].shape == [6, 2, 2])
    }

    @Test func reshapeWithAllowZeroTakesZeroLiterally() throws {
        let empty = floats([], [0, 3])
        let y = try runNode("Reshape", [empty, int64s([3, 0], [2])], opset: 14, attributes: ["allowzero": 1])[0]
        #expect(y.shape == [3, 0])
        #expect(try runNode("Reshape", [x, int64s([0, 12], [2])], opset: 14)[0].shape == [2, 12], "0 copies the input dim")
    }

    @Test func reshapeRejectsImpossibleShapes() throws {
        #expect(throws: InferenceError.self) { try runNode("Reshape", [x, int64s([5, -1], [2])]) }
        #expect(throws: InferenceError.self) { try runNode("Reshape", [x, int64s([-1, -1], [2])]) }
        #expect(throws: InferenceError.self) { try runNode("Reshape", [x, int64s([Int64.max, 4, -1], [3])]) }
        #expect(throws: InferenceError.self) { try runNode("Reshape", [x, int64s([1 << 40, 1 << 40], [2])]) }
    }

    @Test func concatAlongEachAxis() throws {
        let a = floats([1, 2, 3, 4], [2, 2]), b = floats([5, 6], [1, 2]), c = floats([7, 8], [2, 1])
        #expect(try runNode("Concat", [a, b], attributes: ["axis": 0])[0].array(of: Float.self) == [1, 2, 3, 4, 5, 6])
        let y = try runNode("Concat", [a, c, a], attributes: ["axis": -1])[0]
        #expect(y.shape == [2, 5])
        #expect(y.array(of: Float.self) == [1, 2, 7, 1, 2, 3, 4, 8, 3, 4])
        #expect(throws: InferenceError.self) { try runNode("Concat", [a, b], attributes: ["axis": 1]) }
    }

    @Test func identityPassesAnyType() throws {
        #expect(try runNode("Identity", [int64s([1, 2], [2])])[0].array(of: Int64.self) == [1, 2])
    }

    @Test func constantFormsAreFoldedAtLoad() throws {
        var graph = ONNXGraphBuilder(opset: 17)
        graph.input("x", .float32, [2])
        graph.node("Constant", [], ["f"], ["value_float": Float(2)])
        graph.node("Constant", [], ["t"], ["value": floats([10, 20], [2])])
        graph.node("Constant", [], ["s"], ["value_ints": [2, 1]])
        graph.node("Mul", ["x", "f"], ["xf"])
        graph.node("Add", ["xf", "t"], ["sum"])
        graph.node("Reshape", ["sum", "s"], ["y"])
        graph.output("y", .float32, [2, 1])
        let model = try Model(onnx: graph.serialized())
        #expect(model.operatorCounts["Constant"] == nil, "constants never run per request")
        let session = model.makeSession()
        try session.setInput(0, floats([1, 2], [2]))
        let y = try session.run()[0]
        #expect(y.shape == [2, 1])
        #expect(y.array(of: Float.self) == [12, 24])
    }
}
