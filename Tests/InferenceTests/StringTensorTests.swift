import Foundation
import Inference
import ONNXSchema
import Testing
import ZServeTesting

/// String tensors in the runtime: the load-time check that keeps them from kernels that move bytes, how they pass
/// through indexing and control flow, and casts to and from numbers.
@Suite struct StringTensorTests {
    @Test func aStringReachingAByteMovingKernelIsRefusedAtLoad() throws {
        var graph = ONNXGraphBuilder(opset: 17)
        graph.input("x", .string, [2, 3])
        graph.node("Transpose", ["x"], ["y"], name: "t")
        graph.output("y", .string, [3, 2])
        #expect(throws: InferenceError.unsupported(["Transpose 't': string input 'x' (Transpose does not take string tensors here)"])) {
            try Model(onnx: graph.serialized())
        }
    }

    @Test func aStringFromAnEncoderIsFollowedToTheNextKernel() throws {
        // LabelEncoder gives strings; Relu after it is refused by name, before any request.
        var graph = ONNXGraphBuilder(opset: 17)
        graph.importDomain("ai.onnx.ml", version: 2)
        graph.input("x", .int64, [4])
        graph.node("LabelEncoder", ["x"], ["names"], domain: "ai.onnx.ml", ["keys_int64s": [1], "values_strings": ["one"]])
        graph.node("Relu", ["names"], ["y"], name: "r")
        graph.output("y", .string, [4])
        #expect(throws: InferenceError.unsupported(["Relu 'r': string input 'names' (Relu does not take string tensors here)"])) {
            try Model(onnx: graph.serialized())
        }
    }

    @Test func stringsPassThroughGatherConcatAndIfBranchesRunAfterRun() throws {
        var graph = ONNXGraphBuilder(opset: 17)
        graph.input("x", .string, [nil])
        graph.input("pick", .int64, [2])
        graph.input("flag", .bool, [])
        graph.initializer("tail", Tensor(strings: ["ß", "end"], shape: [2]))
        graph.node("Gather", ["x", "pick"], ["picked"])
        graph.node("Concat", ["picked", "tail"], ["joined"], ["axis": 0])
        graph.node("If", ["flag"], ["y"])
        graph.output("y", .string, nil)
        let thenBranch = try subgraph { branch in
            branch.node("Identity", ["joined"], ["chosen"])
            branch.output("chosen", .string, nil)
        }
        let elseBranch = try subgraph { branch in
            branch.node("Identity", ["tail"], ["chosen"])
            branch.output("chosen", .string, nil)
        }
        let model = try Model(onnx: attaching(["then_branch": thenBranch, "else_branch": elseBranch], toNode: 2, of: graph))
        let session = model.makeSession()
        for (words, flag, expected) in [
            (["a", "bb", "ccc"], true, ["ccc", "a", "ß", "end"]),
            (["long string that is not inline " + String(repeating: "x", count: 40), "q"], true,
             ["q", "long string that is not inline " + String(repeating: "x", count: 40), "ß", "end"]),
            (["z"], false, ["ß", "end"]),
        ] {
            try session.setInput(0, Tensor(strings: words, shape: [words.count]))
            try session.setInput(1, Tensor(int64: words.count == 1 ? [0, 0] : [Int64(words.count - 1), 0], shape: [2]))
            try session.setInput(2, bools([flag]))
            #expect(try session.run()[0].array(of: String.self) == expected)
        }
    }

    @Test func aStringInputIsNotSetFromBytes() throws {
        var graph = ONNXGraphBuilder(opset: 17)
        graph.input("x", .string, [1])
        graph.node("Identity", ["x"], ["y"])
        graph.output("y", .string, [1])
        let session = try Model(onnx: graph.serialized()).makeSession()
        #expect(throws: InferenceError.self) {
            try [UInt8](repeating: 0, count: 16).withUnsafeBytes {
                try session.setInput(0, elementType: .string, shape: [1], copying: $0)
            }
        }
    }

    @Test func castsWriteShortestNumbersAndReadThemBack() throws {
        var graph = ONNXGraphBuilder(opset: 17)
        graph.input("x", .float32, [5])
        graph.node("Cast", ["x"], ["text"], ["to": Int(ElementType.string.rawValue)])
        graph.node("Cast", ["text"], ["back"], ["to": Int(ElementType.float32.rawValue)])
        graph.output("text", .string, [5])
        graph.output("back", .float32, [5])
        let session = try Model(onnx: graph.serialized()).makeSession()
        let values: [Float] = [0.1, -2.5e-8, .nan, -.infinity, 16_777_216]
        try session.setInput(0, Tensor(float32: values, shape: [5]))
        let outputs = try session.run()
        #expect(outputs[0].array(of: String.self) == ["0.1", "-2.5e-08", "NaN", "-INF", "16777216.0"])
        let back = outputs[1].array(of: Float.self)
        #expect(back[0] == 0.1 && back[1] == -2.5e-8 && back[2].isNaN && back[3] == -.infinity && back[4] == 16_777_216)
    }

    @Test func aStringThatIsNoNumberFailsTheRunNamingIt() throws {
        var graph = ONNXGraphBuilder(opset: 17)
        graph.input("x", .string, [2])
        graph.node("Cast", ["x"], ["y"], ["to": Int(ElementType.int64.rawValue)])
        graph.output("y", .int64, [2])
        let session = try Model(onnx: graph.serialized()).makeSession()
        try session.setInput(0, Tensor(strings: ["12", "1.5"], shape: [2]))
        #expect(throws: InferenceError.invalidInput("Cast #0: Cast: string 1 ('1.5') is not a int64 number")) {
            try session.run()
        }
    }

    @Test func aLabelEncoderDefaultTensorAppliesToListedValuesToo() throws {
        var graph = ONNXGraphBuilder(opset: 17)
        graph.importDomain("ai.onnx.ml", version: 4)
        graph.input("x", .string, [3])
        graph.node("LabelEncoder", ["x"], ["y"], domain: "ai.onnx.ml", [
            "keys_strings": ["a", "b"], "values_int64s": [1, 2], "default_tensor": Tensor(int64: [42], shape: [1]),
        ])
        graph.output("y", .int64, [3])
        let session = try Model(onnx: graph.serialized()).makeSession()
        try session.setInput(0, Tensor(strings: ["b", "z", "a"], shape: [3]))
        #expect(try session.run()[0].array(of: Int64.self) == [2, 42, 1])
    }
}
