import Foundation
import Inference
import ONNXSchema
import Testing
import ZServeTesting

/// Sequences and optionals inside graphs whose own inputs and outputs are tensors (what a served model may be),
/// beyond ONNX's node tests: a Loop and an If carrying sequences, sequence elements' buffers returning to the
/// session's pool, the refusal of a served model with a sequence output, and the run-time errors.
@Suite struct SequenceKernelTests {
    /// A Loop appends each iteration number (as float) to a sequence that starts empty; ConcatFromSequence stacks
    /// it (new_axis 1) and SequenceLength counts it. Run twice on one session, with different trip counts.
    @Test func loopCarriesASequenceThatConcatFromSequenceStacks() throws {
        var graph = ONNXGraphBuilder(opset: 17)
        graph.input("m", .int64, [])
        graph.node("SequenceEmpty", [], ["empty"], ["dtype": Int(ElementType.float32.rawValue)])
        graph.node("Loop", ["m", "", "empty"], ["built"], name: "collect")
        graph.node("ConcatFromSequence", ["built"], ["stacked"], ["axis": 0, "new_axis": 1])
        graph.node("SequenceLength", ["built"], ["count"])
        graph.output("stacked", .float32, nil)
        graph.output("count", .int64, [])
        var body = ONNXGraphBuilder(opset: 17)
        body.input("i", .int64, [])
        body.input("c", .bool, [])
        body.input("s", .float32, nil)
        body.node("Cast", ["i"], ["f"], ["to": Int(ElementType.float32.rawValue)])
        body.node("SequenceInsert", ["s", "f"], ["s2"])
        body.output("c", .bool, [])
        body.sequenceOutput("s2", .float32)
        var proto = try Onnx_ModelProto(serializedBytes: body.serialized())
        // The body's carried input is a sequence too.
        proto.graph.input[2].type = proto.graph.output[1].type
        let model = try Model(onnx: try attachingGraph("body", proto.graph, toNode: 1, of: graph))
        let session = model.makeSession()
        for trips in [3, 5] {
            try session.setInput(0, int64s([Int64(trips)], []))
            let outputs = try session.run()
            #expect(outputs[0].shape == [trips])
            #expect(outputs[0].array(of: Float.self) == (0..<trips).map(Float.init))
            #expect(outputs[1].array(of: Int64.self) == [Int64(trips)])
        }
    }

    /// An If whose branches return sequences of different lengths (SequenceConstruct, SplitToSequence with a scalar
    /// split whose last part is shorter); SequenceAt reads one back, negative positions counting from the end.
    @Test func ifReturnsSequencesOfEitherBranch() throws {
        var graph = ONNXGraphBuilder(opset: 17)
        graph.input("cond", .bool, [])
        graph.input("x", .float32, [5])
        graph.initializer("two", int64s([2], []))
        graph.initializer("last", int64s([-1], []))
        graph.node("If", ["cond"], ["seq"], name: "choose")
        graph.node("SequenceAt", ["seq", "last"], ["tail"])
        graph.node("SequenceLength", ["seq"], ["count"])
        graph.output("tail", .float32, nil)
        graph.output("count", .int64, [])
        var thenBranch = ONNXGraphBuilder(opset: 17)
        thenBranch.node("Neg", ["x"], ["n"])
        thenBranch.node("SequenceConstruct", ["x", "n"], ["pair"])
        thenBranch.sequenceOutput("pair", .float32)
        var elseBranch = ONNXGraphBuilder(opset: 17)
        elseBranch.node("SplitToSequence", ["x", "two"], ["parts"])
        elseBranch.sequenceOutput("parts", .float32)
        var bytes = try attachingGraph(
            "then_branch", try Onnx_ModelProto(serializedBytes: thenBranch.serialized()).graph, toNode: 0, of: graph)
        var withBoth = try Onnx_ModelProto(serializedBytes: bytes)
        withBoth.graph.node[0].attribute.append(.with {
            $0.name = "else_branch"
            $0.type = .graph
            $0.g = try! Onnx_ModelProto(serializedBytes: elseBranch.serialized()).graph
        })
        bytes = try withBoth.serializedData()
        let session = try Model(onnx: bytes).makeSession()
        let x = floats([1, 2, 3, 4, 5], [5])
        try session.setInput(0, flag(true))
        try session.setInput(1, x)
        var outputs = try session.run()
        #expect(outputs[0].array(of: Float.self) == [-1, -2, -3, -4, -5])
        #expect(outputs[1].array(of: Int64.self) == [2])
        try session.setInput(0, flag(false))
        try session.setInput(1, x)
        outputs = try session.run()
        #expect(outputs[0].array(of: Float.self) == [5])
        #expect(outputs[1].array(of: Int64.self) == [3])
    }

    /// SplitToSequence's parts are tensors of the session's pool, bound to no value: once the sequence is released
    /// they hold no memory beyond what the next run reuses.
    @Test func sequenceElementsReturnToTheSessionPool() throws {
        var graph = ONNXGraphBuilder(opset: 17)
        graph.input("x", .float32, [64, 256])
        graph.node("SplitToSequence", ["x"], ["rows"], ["keepdims": 0])
        graph.node("ConcatFromSequence", ["rows"], ["y"], ["axis": 0])
        graph.output("y", .float32, nil)
        let model = try Model(onnx: graph.serialized())
        let session = model.makeSession()
        let x = floats((0..<(64 * 256)).map { Float($0 % 97) }, [64, 256])
        // The parts (64 KiB) and the output (64 KiB) count against the limit: 100 KiB is not enough.
        let tight = model.makeSession(memoryLimit: 100 << 10)
        try tight.setInput(0, x)
        let error = #expect(throws: InferenceError.self) { try tight.run() }
        if case .resourceExhausted? = error {} else { Issue.record("expected resourceExhausted, got \(String(describing: error))") }
        var afterFirst = 0
        for run in 0..<4 {
            try session.setInput(0, x)
            let y = try session.run()[0]
            #expect(y.shape == [64 * 256])
            #expect(y.array(of: Float.self) == x.array(of: Float.self))
            if run == 0 { afterFirst = session.memoryInUse } else { #expect(session.memoryInUse == afterFirst) }
        }
    }

    @Test func aServedModelWithASequenceOutputIsRefusedAtLoad() throws {
        var graph = ONNXGraphBuilder(opset: 17)
        graph.input("x", .float32, [3])
        graph.node("SequenceConstruct", ["x", "x"], ["pair"])
        graph.sequenceOutput("pair", .float32)
        #expect(throws: InferenceError.unsupported([
            "graph output 'pair' is a sequence: a served model's inputs and outputs must be tensors "
                + "(sequences and optionals may flow inside the graph)",
        ])) {
            try Model(onnx: graph.serialized())
        }
    }

    @Test func positionsKindsAndEmptyOptionalsAreRunTimeErrors() throws {
        func run(_ build: (inout ONNXGraphBuilder) -> Void) throws {
            var graph = ONNXGraphBuilder(opset: 18)
            graph.input("x", .float32, [2])
            build(&graph)
            graph.output("y", .float32, nil)
            let session = try Model(onnx: graph.serialized()).makeSession()
            try session.setInput(0, floats([1, 2], [2]))
            _ = try session.run()
        }
        #expect(throws: InferenceError.invalidInput(
            "SequenceAt #2: position 2 is outside the sequence of 2 tensors (valid: -2...1)")) {
            try run { graph in
                graph.initializer("p", int64s([2], []))
                graph.node("SequenceConstruct", ["x", "x"], ["s"])
                graph.node("Identity", ["s"], ["t"])
                graph.node("SequenceAt", ["t", "p"], ["y"])
            }
        }
        #expect(throws: InferenceError.invalidInput("Relu #1: input 0 is a sequence, not a tensor")) {
            try run { graph in
                graph.node("SequenceConstruct", ["x"], ["s"])
                graph.node("Relu", ["s"], ["y"])
            }
        }
        #expect(throws: InferenceError.invalidInput("ConcatFromSequence #1: ConcatFromSequence of an empty sequence")) {
            try run { graph in
                graph.node("SequenceEmpty", [], ["s"])
                graph.node("ConcatFromSequence", ["s"], ["y"], ["axis": 0])
            }
        }
        // An optional with an element passes it on; OptionalHasElement of an absent input is false.
        var graph = ONNXGraphBuilder(opset: 18)
        graph.input("x", .float32, [2])
        graph.node("Optional", ["x"], ["o"])
        graph.node("OptionalGetElement", ["o"], ["y"])
        graph.node("OptionalHasElement", [""], ["none"])
        graph.output("y", .float32, nil)
        graph.output("none", .bool, [])
        let session = try Model(onnx: graph.serialized()).makeSession()
        try session.setInput(0, floats([1, 2], [2]))
        let outputs = try session.run()
        #expect(outputs[0].array(of: Float.self) == [1, 2])
        #expect(outputs[1].array(of: UInt8.self) == [0])
    }
}

/// `graph` with `subgraph` attached to node `index` as GRAPH attribute `name`.
private func attachingGraph(_ name: String, _ subgraph: Onnx_GraphProto, toNode index: Int, of graph: ONNXGraphBuilder) throws -> Data {
    var model = try Onnx_ModelProto(serializedBytes: graph.serialized())
    model.graph.node[index].attribute.append(.with {
        $0.name = name
        $0.type = .graph
        $0.g = subgraph
    })
    return try model.serializedData()
}

/// A bool scalar.
private func flag(_ value: Bool) -> Tensor {
    [UInt8(value ? 1 : 0)].withUnsafeBytes { Tensor(elementType: .bool, shape: [], copying: $0) }
}
