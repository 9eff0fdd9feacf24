import Foundation
import Inference
import ServingProtocol
import SwiftProtobuf
import Testing
import ZServe
import ZServeClient
import ZServeTesting
import ZeroMQ

/// Dynamic batching: requests queued together run as one stacked run and get their own rows back.
@Suite struct BatchingTests {
    /// A server with one worker that waits up to 200 ms to gather 16 requests into a batch.
    func batchingServer(_ repository: TemporaryRepository) throws -> RunningServer {
        try RunningServer(repository: repository, workers: 1) {
            $0.maxBatchSize = 16
            $0.maxQueueDelay = .milliseconds(200)
        }
    }

    /// Sends every request from one DEALER before reading, returns the replies by request id.
    func exchange(_ requests: [Zserve_V1_PredictRequest], with running: RunningServer) throws -> [String: Zserve_V1_PredictResponse] {
        let context = try Context()
        let dealer = try Socket(context: context, type: .dealer)
        defer { dealer.close() }
        try dealer.setReceiveTimeout(20_000)
        try dealer.connect(running.endpoint)
        for request in requests { try dealer.send(try Envelope.request(.predict, request)) }
        var responses: [String: Zserve_V1_PredictResponse] = [:]
        for _ in requests {
            let (status, payload) = try parseReply(try dealer.receive())
            #expect(status.code == .ok, "\(status.message)")
            let response = try Zserve_V1_PredictResponse(serializedBytes: payload)
            responses[response.id] = response
        }
        return responses
    }

    @Test func stackedRequestsGetTheirOwnRowsBackAsUnbatchedRunsWould() throws {
        let repository = try standardRepository()
        let running = try batchingServer(repository)
        var requests: [Zserve_V1_PredictRequest] = []
        for i in 0..<16 {
            let rows = i % 4 + 1
            let values = (0..<(rows * 8)).map { Float(($0 * 7 + i * 13) % 23) - 11 }
            requests.append(.with {
                $0.id = "r\(i)"
                $0.model.name = "purchase_propensity"
                $0.inputs = [wireTensor("features", values, [Int64(rows), 8])]
            })
        }
        let responses = try exchange(requests, with: running)

        let model = try Model(contentsOf: Fixtures.exampleRepository.appendingPathComponent("purchase_propensity/1/model.onnx"))
        let session = model.makeSession()
        for request in requests {
            let input = try tensor(request.inputs[0])
            try session.setInput(0, input)
            let expected = try session.run()[0]
            let output = try #require(responses[request.id]?.outputs.first)
            // A stacked run multiplies a taller matrix, which BLAS may sum in another order (another kernel, or
            // sgemm instead of the one-row sgemv). Each layer's sums have at most 16 terms, so each differs by at most
            // 2γ₁₆ ≈ 2·10⁻⁶ of its magnitude; through three layers and a sigmoid that stays below 10⁻⁴, while a row
            // computed from another request's values differs by far more.
            #expect(Tolerance.mismatch(try tensor(output), expected, rtol: 1e-4, atol: 1e-6) == nil, "\(request.id)")
        }
    }

    /// y = x - mean over the batch axis: zero for a lone row, not for stacked rows. It shows whether requests were
    /// stacked, and why batching is only for models whose rows are independent.
    func centeredModel() throws -> Data {
        var graph = ONNXGraphBuilder(opset: 17)
        graph.input("x", .float32, [nil, nil])
        graph.node("ReduceMean", ["x"], ["mean"], ["axes": [0], "keepdims": 1])
        graph.node("Sub", ["x", "mean"], ["y"])
        graph.output("y", .float32, [nil, nil])
        return try graph.serialized()
    }

    /// One-row requests for `model`, alternating widths 2 and 3.
    func centeredRequests(_ model: String, count: Int = 16) -> [Zserve_V1_PredictRequest] {
        (0..<count).map { i in
            let width = i % 2 == 0 ? 2 : 3
            return Zserve_V1_PredictRequest.with {
                $0.id = "\(model)-\(i)"
                $0.model.name = model
                $0.inputs = [wireTensor("x", (0..<width).map { Float(i * 10 + $0) }, [1, Int64(width)])]
            }
        }
    }

    /// How many replies show their request ran stacked with others (a non-zero centered row).
    func stackedCount(_ requests: [Zserve_V1_PredictRequest], _ responses: [String: Zserve_V1_PredictResponse]) throws -> Int {
        try requests.filter { request in
            let output = try #require(responses[request.id]?.outputs.first)
            #expect(output.shape == request.inputs[0].shape, "each request gets its own rows and width back")
            return try tensor(output).array(of: Float.self).contains { $0 != 0 }
        }.count
    }

    @Test func batchingSetInAModelsConfigAppliesToThatModelOnly() throws {
        let repository = try TemporaryRepository()
        try repository.add("centered", bytes: try centeredModel())
        try repository.add("plain", bytes: try centeredModel())
        try Data(#"{"batching": {"max_batch_size": 8, "max_queue_delay_us": 200000, "preferred_batch_sizes": [4]}}"#.utf8)
            .write(to: repository.root.appendingPathComponent("centered/config.json"))
        let running = try RunningServer(repository: repository, workers: 1) { $0.pollInterval = nil }
        let batched = centeredRequests("centered")
        #expect(try stackedCount(batched, try exchange(batched, with: running)) == 16)
        let plain = centeredRequests("plain")
        #expect(try stackedCount(plain, try exchange(plain, with: running)) == 0, "the server-wide default is off")
    }

    @Test func requestsOnlyStackWhenTheyCanAndBatchingReallyStacks() throws {
        let repository = try TemporaryRepository()
        try repository.add("centered", bytes: try centeredModel())
        let running = try batchingServer(repository)
        // Eight one-row requests of width 2 and eight of width 3: two stacks, never one of mixed widths.
        let requests = centeredRequests("centered")
        #expect(try stackedCount(requests, try exchange(requests, with: running)) == 16,
                "every request ran stacked with the others of its width")
    }
}
