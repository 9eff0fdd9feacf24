import Foundation
import Inference
import ONNXSchema
import Testing
import ZServeTesting

/// If, Loop and Scan beyond ONNX's node tests: values read from enclosing graphs (also two levels out), a Loop
/// nested in an If branch, zero iterations, scan outputs whose length only the condition decides, session reuse,
/// and the load-time errors for malformed subgraphs.
@Suite struct ControlFlowTests {
    @Test func ifBranchesReadOuterValuesAndMayDifferInShape() throws {
        var graph = ONNXGraphBuilder(opset: 17)
        graph.input("cond", .bool, [])
        graph.input("x", .float32, [3])
        graph.node("Relu", ["x"], ["r"])
        graph.node("If", ["cond"], ["out"], name: "choose")
        graph.output("out", .float32, nil)
        let thenBranch = try subgraph { branch in
            branch.node("Add", ["x", "r"], ["t"])
            branch.output("t", .float32, [3])
        }
        let elseBranch = try subgraph { branch in
            branch.node("Concat", ["r", "r"], ["e"], ["axis": 0])
            branch.output("e", .float32, [6])
        }
        let model = try Model(onnx: attaching(["then_branch": thenBranch, "else_branch": elseBranch], toNode: 1, of: graph))
        let session = model.makeSession()
        for _ in 0..<2 {
            try session.setInput(0, bools([true]))
            try session.setInput(1, floats([-1, 2, 3], [3]))
            #expect(try session.run()[0].array(of: Float.self) == [-1, 4, 6])
            try session.setInput(0, bools([false]))
            try session.setInput(1, floats([-1, 2, 3], [3]))
            let output = try session.run()[0]
            #expect(output.shape == [6])
            #expect(output.array(of: Float.self) == [0, 2, 3, 0, 2, 3])
        }
    }

    @Test func loopNestedInAnIfBranchReadsTheOutermostGraph() throws {
        // then_branch runs Loop(n, "", start) whose body adds `step`: n and step are inputs of the outermost graph,
        // start an initializer there, so the body reads values two graphs out.
        var graph = ONNXGraphBuilder(opset: 17)
        graph.input("flag", .bool, [])
        graph.input("n", .int64, [])
        graph.input("step", .float32, [1])
        graph.initializer("start", floats([10], [1]))
        graph.node("If", ["flag"], ["out"], name: "outer")
        graph.output("out", .float32, [1])
        let body = try subgraph { body in
            body.input("i", .int64, [])
            body.input("c", .bool, [])
            body.input("acc", .float32, [1])
            body.node("Add", ["acc", "step"], ["acc_next"])
            body.node("Identity", ["c"], ["c_next"])
            body.output("c_next", .bool, [])
            body.output("acc_next", .float32, [1])
        }
        var thenBranch = try subgraph { branch in
            branch.node("Loop", ["n", "", "start"], ["total"], name: "inner")
            branch.output("total", .float32, [1])
        }
        thenBranch.node[0].attribute.append(graphAttribute("body", body))
        let elseBranch = try subgraph { branch in
            branch.node("Neg", ["step"], ["negated"])
            branch.output("negated", .float32, [1])
        }
        let model = try Model(onnx: attaching(["then_branch": thenBranch, "else_branch": elseBranch], toNode: 0, of: graph))
        let session = model.makeSession()
        try session.setInput(0, bools([true]))
        try session.setInput(1, int64s([4], []))
        try session.setInput(2, floats([0.5], [1]))
        #expect(try session.run()[0].array(of: Float.self) == [12])
        try session.setInput(0, bools([false]))
        try session.setInput(1, int64s([4], []))
        try session.setInput(2, floats([0.5], [1]))
        #expect(try session.run()[0].array(of: Float.self) == [-0.5])
    }

    @Test func loopWithTripCountZeroReturnsInitialValuesAndEmptyScanOutputs() throws {
        let session = try doublingLoop().makeSession()
        try session.setInput(0, int64s([0], []))
        try session.setInput(1, floats([1, 2], [2]))
        let empty = try session.run()
        #expect(empty[0].array(of: Float.self) == [1, 2])
        #expect(empty[1].shape == [0, 2])
        #expect(empty[1].elementType == .float32)
        // The same session (and its body session) then runs iterations.
        try session.setInput(0, int64s([3], []))
        try session.setInput(1, floats([1, 2], [2]))
        let ran = try session.run()
        #expect(ran[0].array(of: Float.self) == [8, 16])
        #expect(ran[1].shape == [3, 2])
        #expect(ran[1].array(of: Float.self) == [2, 4, 4, 8, 8, 16])
    }

    @Test func loopEndedByItsConditionStacksEveryIteration() throws {
        // No trip count: the body stops after iteration 9, so the scan output grows past its first allocation.
        var graph = ONNXGraphBuilder(opset: 17)
        graph.input("go", .bool, [])
        graph.node("Loop", ["", "go"], ["iterations"], name: "count")
        graph.output("iterations", .float32, nil)
        let body = try subgraph { body in
            body.input("i", .int64, [])
            body.input("c", .bool, [])
            body.initializer("last", int64s([9], []))
            body.node("Less", ["i", "last"], ["more"])
            body.node("Cast", ["i"], ["value"], ["to": Int(ElementType.float32.rawValue)])
            body.output("more", .bool, [])
            body.output("value", .float32, [])
        }
        let model = try Model(onnx: attaching(["body": body], toNode: 0, of: graph))
        let session = model.makeSession()
        try session.setInput(0, bools([true]))
        #expect(try session.run()[0].array(of: Float.self) == (0..<10).map(Float.init))
        try session.setInput(0, bools([false]))
        #expect(try session.run()[0].shape == [0])
    }

    @Test func ifBranchWithTheWrongOutputCountIsRefusedAtLoad() throws {
        var graph = ONNXGraphBuilder(opset: 17)
        graph.input("cond", .bool, [])
        graph.input("x", .float32, [2])
        graph.node("If", ["cond"], ["out"], name: "choose")
        graph.output("out", .float32, [2])
        let two = try subgraph { branch in
            branch.node("Neg", ["x"], ["a"])
            branch.node("Abs", ["x"], ["b"])
            branch.output("a", .float32, [2])
            branch.output("b", .float32, [2])
        }
        let one = try subgraph { branch in
            branch.node("Neg", ["x"], ["a"])
            branch.output("a", .float32, [2])
        }
        #expect(throws: InferenceError.invalidModel("If 'choose': then_branch has 2 outputs, the node has 1")) {
            try Model(onnx: attaching(["then_branch": two, "else_branch": one], toNode: 0, of: graph))
        }
    }

    @Test func loopBodyWithTheWrongInputCountIsRefusedAtLoad() throws {
        var graph = ONNXGraphBuilder(opset: 17)
        graph.input("n", .int64, [])
        graph.input("x", .float32, [2])
        graph.node("Loop", ["n", "", "x"], ["y"], name: "l")
        graph.output("y", .float32, [2])
        let body = try subgraph { body in
            body.input("i", .int64, [])
            body.input("c", .bool, [])
            body.node("Identity", ["x"], ["x_next"])
            body.output("c", .bool, [])
            body.output("x_next", .float32, [2])
        }
        #expect(throws: InferenceError.invalidModel(
            "Loop 'l': body takes 2 inputs; with 1 loop-carried values it needs 3 (iteration number, condition, "
                + "the loop-carried values)")) {
            try Model(onnx: attaching(["body": body], toNode: 0, of: graph))
        }
    }

    @Test func subgraphProblemsAreNamedAtLoad() throws {
        var graph = ONNXGraphBuilder(opset: 17)
        graph.input("cond", .bool, [])
        graph.input("x", .float32, [2])
        graph.node("If", ["cond"], ["out"], name: "choose")
        graph.output("out", .float32, [2])
        let unknownOperator = try subgraph { branch in
            branch.node("NoSuchOperator", ["x"], ["a"])
            branch.output("a", .float32, [2])
        }
        let undefinedName = try subgraph { branch in
            branch.node("Neg", ["nowhere"], ["a"])
            branch.output("a", .float32, [2])
        }
        let fine = try subgraph { branch in
            branch.node("Neg", ["x"], ["a"])
            branch.output("a", .float32, [2])
        }
        #expect(throws: InferenceError.unsupported(["NoSuchOperator"])) {
            try Model(onnx: attaching(["then_branch": unknownOperator, "else_branch": fine], toNode: 0, of: graph))
        }
        #expect(throws: InferenceError.invalidModel(
            "If 'choose' else_branch: Neg #0 reads 'nowhere', which is not defined before it")) {
            try Model(onnx: attaching(["then_branch": fine, "else_branch": undefinedName], toNode: 0, of: graph))
        }
    }

    @Test func scanBodyErrorsAtRunTimeNameTheNodeAndSubgraph() throws {
        // A scan output whose shape changes between iterations: the body emits the prefix of each row as long as the
        // row's sum (reading the outer constant `zero`).
        var graph = ONNXGraphBuilder(opset: 17)
        graph.input("xs", .float32, [3, 4])
        graph.initializer("zero", int64s([0], [1]))
        graph.node("Scan", ["xs"], ["ys"], name: "s", ["num_scan_inputs": 1])
        graph.output("ys", .float32, nil)
        let body = try subgraph { body in
            body.input("x", .float32, [4])
            body.node("ReduceSum", ["x"], ["sum"], ["keepdims": 0])
            body.node("Cast", ["sum"], ["n"], ["to": Int(ElementType.int64.rawValue)])
            body.node("Unsqueeze", ["n", "zero"], ["end"])
            body.node("Slice", ["x", "zero", "end"], ["prefix"])
            body.output("prefix", .float32, nil)
        }
        let session = try Model(onnx: attaching(["body": body], toNode: 0, of: graph)).makeSession()
        try session.setInput(0, floats([1, 0, 0, 0, 1, 1, 0, 0, 1, 1, 1, 0], [3, 4]))
        #expect(throws: InferenceError.invalidInput(
            "Scan 's': scan output 0 changed from float32 [1] to float32 [2] between iterations")) {
            try session.run()
        }
    }

    @Test func subgraphMemoryCountsAgainstTheSessionLimit() throws {
        // The body expands a scalar to [1024, 1024] float32 (4 MiB) each iteration.
        var graph = ONNXGraphBuilder(opset: 17)
        graph.input("m", .int64, [])
        graph.input("x", .float32, [])
        graph.initializer("shape", int64s([1024, 1024], [2]))
        graph.node("Loop", ["m", "", "x"], ["y"], name: "l")
        graph.output("y", .float32, nil)
        let body = try subgraph { body in
            body.input("i", .int64, [])
            body.input("c", .bool, [])
            body.input("v", .float32, nil)
            body.node("Expand", ["v", "shape"], ["big"])
            body.output("c", .bool, [])
            body.output("big", .float32, nil)
        }
        let model = try Model(onnx: attaching(["body": body], toNode: 0, of: graph))
        let small = model.makeSession(memoryLimit: 1 << 20)
        try small.setInput(0, int64s([2], []))
        try small.setInput(1, floats([1], []))
        #expect(throws: InferenceError.resourceExhausted(
            "Loop 'l': body: Expand #0: a [1024, 1024] float32 tensor would take the session past its "
                + "1048576-byte memory limit")) {
            try small.run()
        }
        let large = model.makeSession(memoryLimit: 64 << 20)
        try large.setInput(0, int64s([2], []))
        try large.setInput(1, floats([1], []))
        #expect(try large.run()[0].shape == [1024, 1024])
        // The body's buffers are the session's too.
        #expect(large.memoryInUse >= 2 * (4 << 20))
    }

    /// Loop(M, "", x) whose body doubles x and also emits it as a scan output.
    private func doublingLoop() throws -> Model {
        var graph = ONNXGraphBuilder(opset: 17)
        graph.input("m", .int64, [])
        graph.input("x", .float32, [2])
        graph.node("Loop", ["m", "", "x"], ["final", "steps"], name: "double")
        graph.output("final", .float32, [2])
        graph.output("steps", .float32, nil)
        let body = try subgraph { body in
            body.input("i", .int64, [])
            body.input("c", .bool, [])
            body.input("v", .float32, [2])
            body.node("Add", ["v", "v"], ["doubled"])
            body.node("Identity", ["doubled"], ["step"])
            body.output("c", .bool, [])
            body.output("doubled", .float32, [2])
            body.output("step", .float32, [2])
        }
        return try Model(onnx: attaching(["body": body], toNode: 0, of: graph))
    }
}
