import Foundation
import Inference
import Testing
import ZServeTesting

/// Models importing opsets before 7, and the load-time float16 check: what maps, what is refused and how it is named.
@Suite struct LegacyOpsetTests {
    @Test func legacyBroadcastAlignsBAtTheGivenAxis() throws {
        // Opset 6 Add with broadcast = 1, axis = 1: a [3] bias added along the channels of [2, 3, 2].
        var graph = ONNXGraphBuilder(opset: 6)
        graph.input("x", .float32, [2, 3, 2])
        graph.initializer("b", floats([10, 20, 30], [3]))
        graph.node("Add", ["x", "b"], ["y"], ["broadcast": 1, "axis": 1])
        graph.output("y", .float32, [2, 3, 2])
        let session = try Model(onnx: graph.serialized()).makeSession()
        try session.setInput(0, floats((0..<12).map(Float.init), [2, 3, 2]))
        #expect(try session.run()[0].array(of: Float.self) == [10, 11, 22, 23, 34, 35, 16, 17, 28, 29, 40, 41])
    }

    @Test func legacyArithmeticWithoutBroadcastNeedsEqualShapes() throws {
        var graph = ONNXGraphBuilder(opset: 6)
        graph.input("x", .float32, [2, 3])
        graph.initializer("b", floats([1, 2, 3], [3]))
        graph.node("Mul", ["x", "b"], ["y"])
        graph.output("y", .float32, [2, 3])
        let session = try Model(onnx: graph.serialized()).makeSession()
        try session.setInput(0, floats([1, 2, 3, 4, 5, 6], [2, 3]))
        #expect(throws: InferenceError.self) { try session.run() }
    }

    @Test func reshapeTakesItsShapeAttributeBeforeOpset5() throws {
        var graph = ONNXGraphBuilder(opset: 4)
        graph.input("x", .float32, [2, 3])
        graph.node("Reshape", ["x"], ["y"], ["shape": [3, -1]])
        graph.output("y", .float32, [3, 2])
        let session = try Model(onnx: graph.serialized()).makeSession()
        try session.setInput(0, floats([1, 2, 3, 4, 5, 6], [2, 3]))
        #expect(try session.run()[0].shape == [3, 2])
    }

    @Test func anUnmappedLegacyVersionIsRefusedNamingNodeVersionAndOpset() throws {
        var graph = ONNXGraphBuilder(opset: 5)
        graph.input("x", .float32, [2, 3])
        graph.input("tiles", .float32, [1])
        graph.input("axis", .float32, [1])
        graph.node("Tile", ["x", "tiles", "axis"], ["y"], name: "t")
        graph.output("y", .float32, [2, 3])
        #expect(throws: InferenceError.unsupported([
            "Tile 't': Tile version 1 (the model imports opset 5); its meaning changed in opset 6 and this runtime "
                + "implements Tile from version 6 on",
        ])) { try Model(onnx: graph.serialized()) }
    }

    @Test func batchNormalizationInTrainingModeIsRefused() throws {
        var graph = ONNXGraphBuilder(opset: 6)
        graph.input("x", .float32, [1, 2, 2])
        for name in ["s", "b", "m", "v"] { graph.initializer(name, floats([1, 1], [2])) }
        graph.node("BatchNormalization", ["x", "s", "b", "m", "v"], ["y"], name: "bn", ["is_test": 0])
        graph.output("y", .float32, [1, 2, 2])
        #expect(throws: InferenceError.unsupported(["BatchNormalization 'bn': is_test 0 (training mode, opset 6)"])) {
            try Model(onnx: graph.serialized())
        }
    }

    @Test func float16ReachingAFloat32OnlyKernelIsRefusedAtLoad() throws {
        // Transpose moves float16 bytes; Softmax computes on float32 and float64 only.
        var graph = ONNXGraphBuilder(opset: 17)
        graph.input("x", .float16, [2, 3])
        graph.node("Transpose", ["x"], ["t"])
        graph.node("Softmax", ["t"], ["y"], name: "sm")
        graph.output("y", .float16, [3, 2])
        #expect(throws: InferenceError.unsupported([
            "Softmax 'sm': float16 input 't' (this runtime computes Softmax in float32 or float64 only)",
        ])) { try Model(onnx: graph.serialized()) }
    }

    @Test func float16AfterACastToFloat32Loads() throws {
        var graph = ONNXGraphBuilder(opset: 17)
        graph.input("x", .float16, [2, 3])
        graph.node("Cast", ["x"], ["f"], ["to": 1])
        graph.node("Softmax", ["f"], ["y"])
        graph.output("y", .float32, [2, 3])
        _ = try Model(onnx: graph.serialized())
    }
}
