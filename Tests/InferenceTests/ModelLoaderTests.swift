import Foundation
import Inference
import Testing
import ZServeTesting

@Suite struct ModelLoaderTests {
    @Test func bytesThatAreNotONNXAreRefused() {
        #expect {
            try Model(onnx: Data([0xff, 0xff, 0xff, 0x01]))
        } throws: { error in
            if case InferenceError.invalidModel = error { return true }
            return false
        }
    }

    @Test func everyUnsupportedOperatorIsNamedAtLoad() throws {
        var graph = ONNXGraphBuilder(opset: 17)
        graph.input("x", .float32, [1, 4])
        graph.node("Relu", ["x"], ["a"])
        graph.node("FancyOp", ["a"], ["b"])
        graph.node("Relu", ["b"], ["c"])
        graph.node("OtherOp", ["c"], ["d"])
        graph.node("Custom", ["d"], ["y"], domain: "com.example")
        graph.output("y", .float32, [1, 4])
        #expect(throws: InferenceError.unsupported(["FancyOp", "OtherOp", "Custom (domain com.example)"])) {
            try Model(onnx: graph.serialized())
        }
    }

    @Test func anAttributeTheKernelDoesNotImplementIsRefused() throws {
        var graph = ONNXGraphBuilder(opset: 17)
        graph.input("x", .float32, [1, 4])
        graph.node("Relu", ["x"], ["y"], ["mystery": 3])
        graph.output("y", .float32, [1, 4])
        #expect(throws: InferenceError.unsupported(["Relu attribute 'mystery'"])) {
            try Model(onnx: graph.serialized())
        }
    }

    @Test func undefinedValuesAndMissingOutputsAreInvalid() throws {
        var dangling = ONNXGraphBuilder()
        dangling.input("x", .float32, [1])
        dangling.node("Relu", ["nowhere"], ["y"])
        dangling.output("y", .float32, [1])
        #expect(throws: InferenceError.self) { try Model(onnx: dangling.serialized()) }

        var missing = ONNXGraphBuilder()
        missing.input("x", .float32, [1])
        missing.node("Relu", ["x"], ["y"])
        missing.output("z", .float32, [1])
        #expect(throws: InferenceError.invalidModel("graph output 'z' is never computed")) {
            try Model(onnx: missing.serialized())
        }
    }

    @Test func opsetsOutsideTheSupportedRangeAreRefused() throws {
        var graph = ONNXGraphBuilder(opset: 99)
        graph.input("x", .float32, [1])
        graph.node("Relu", ["x"], ["y"])
        graph.output("y", .float32, [1])
        #expect(throws: InferenceError.self) { try Model(onnx: graph.serialized()) }
    }

    @Test func initializersInTypedFieldsAndRawDataAgree() throws {
        for typed in [false, true] {
            var graph = ONNXGraphBuilder()
            graph.input("x", .float32, [nil, 2])
            graph.initializer("w", floats([1, 2, 3, 4], [2, 2]), typed: typed)
            graph.initializer("shape", int64s([-1], [1]), typed: typed)
            graph.node("MatMul", ["x", "w"], ["h"])
            graph.node("Reshape", ["h", "shape"], ["y"])
            graph.output("y", .float32, [nil])
            let model = try Model(onnx: graph.serialized())
            #expect(model.inputs.map(\.name) == ["x"], "initializers are not inputs")
            #expect(model.inputs[0].shape == [nil, 2])
            let session = model.makeSession()
            try session.setInput(0, floats([1, 1], [1, 2]))
            #expect(try session.run()[0].array(of: Float.self) == [4, 6])
        }
    }

    @Test func initializerWhoseDataDoesNotMatchItsDimsIsInvalid() throws {
        var graph = ONNXGraphBuilder()
        graph.input("x", .float32, [2])
        var proto = ONNXGraphBuilder.tensorProto("w", floats([1, 2], [2]))
        proto.dims = [3]
        var bytes = try graph.serialized()
        // Append the bad initializer by re-encoding through the schema.
        var model = try ONNXSchema.Onnx_ModelProto(serializedBytes: bytes)
        model.graph.initializer.append(proto)
        model.graph.node.append(.with { $0.opType = "Add"; $0.input = ["x", "w"]; $0.output = ["y"] })
        model.graph.output.append(.with { $0.name = "y"; $0.type.tensorType.elemType = 1 })
        bytes = try model.serializedData()
        #expect(throws: InferenceError.self) { try Model(onnx: bytes) }
    }

    @Test func craftedModelsAreRefusedNotFollowed() throws {
        var huge = ONNXGraphBuilder()
        huge.input("x", .float32, [1])
        huge.node("Relu", ["x"], ["y"])
        huge.output("y", .float32, [1])
        var model = try Onnx_ModelProto(serializedBytes: try huge.serialized())
        model.graph.initializer.append(.with { $0.name = "w"; $0.dataType = 1; $0.dims = [1 << 62, 4]; $0.rawData = Data() })
        #expect(throws: InferenceError.self) { try Model(onnx: try model.serializedData()) }

        var outputless = ONNXGraphBuilder()
        outputless.input("x", .float32, [1])
        outputless.node("Relu", ["x"], [])
        outputless.node("Relu", ["x"], ["y"])
        outputless.output("y", .float32, [1])
        #expect(throws: InferenceError.self) { try Model(onnx: outputless.serialized()) }
    }

    @Test func sessionRejectsInputsThatDoNotFitTheSignature() throws {
        var graph = ONNXGraphBuilder()
        graph.input("x", .float32, [nil, 3])
        graph.node("Relu", ["x"], ["y"])
        graph.output("y", .float32, [nil, 3])
        let session = try Model(onnx: graph.serialized()).makeSession()
        #expect(throws: InferenceError.self) { try session.setInput(0, floats([1, 2], [1, 2])) }
        #expect(throws: InferenceError.self) { try session.setInput(0, int64s([1, 2, 3], [1, 3])) }
        #expect(throws: InferenceError.invalidInput("input 'x' is missing")) { try session.run() }
        try session.setInput(0, floats([-1, 0, 1, 2, -2, 3], [2, 3]))
        #expect(try session.run()[0].array(of: Float.self) == [0, 0, 1, 2, 0, 3])
    }
}

import ONNXSchema
