import Inference
import Testing
import ZServeTesting

/// The session's memory pool: values share blocks once their last reader has run, outputs handed to the caller
/// are never overwritten, and the limit still holds.
@Suite struct SessionMemoryTests {
    /// x → Neg → Neg → … → y, `nodes` long.
    func chain(nodes: Int) throws -> Model {
        var graph = ONNXGraphBuilder(opset: 17)
        graph.input("x", .float32, [nil])
        for i in 0..<nodes {
            graph.node("Neg", [i == 0 ? "x" : "v\(i)"], [i == nodes - 1 ? "y" : "v\(i + 1)"])
        }
        graph.output("y", .float32, nil)
        return try Model(onnx: graph.serialized())
    }

    @Test func aChainOfNodesReusesTwoBlocksWhateverItsLength() throws {
        let session = try chain(nodes: 8).makeSession()
        let count = 1000
        let ones = [Float](repeating: 1, count: count)
        try ones.withUnsafeBytes { try session.setInput(0, elementType: .float32, shape: [count], copying: $0) }
        let y = try session.run()[0]
        #expect(y.array(of: Float.self) == [Float](repeating: 1, count: count))
        // Each value lives from its node to the next: two blocks at a time, not one per value.
        #expect(session.memoryInUse <= 2 * count * 4)
    }

    @Test func outputsTheCallerKeepsSurviveLaterRuns() throws {
        let session = try chain(nodes: 3).makeSession()
        try session.setInput(0, floats([1, 2, 3], [3]))
        let first = try session.run()[0]
        for run in 0..<3 {
            try session.setInput(0, floats([10, 20, 30].map { $0 * Float(run + 1) }, [3]))
            let later = try session.run()[0]
            #expect(later.array(of: Float.self) == [-10, -20, -30].map { $0 * Float(run + 1) })
        }
        #expect(first.array(of: Float.self) == [-1, -2, -3])
        // Blocks the caller let go of are the session's to reuse again: memory stays bounded.
        #expect(session.memoryInUse <= 4 * 3 * 4)
    }

    @Test func theLimitStillRefusesARunThatWouldPassIt() throws {
        let session = try chain(nodes: 2).makeSession(memoryLimit: 4096)
        try session.setInput(0, floats([Float](repeating: 1, count: 512), [512]))
        _ = try session.run()
        try session.setInput(0, floats([Float](repeating: 1, count: 2048), [2048]))
        #expect(performing: { try session.run() }, throws: { error in
            if case InferenceError.resourceExhausted = error { return true }
            return false
        })
    }
}
