import Foundation
import ServingProtocol
import SwiftProtobuf
import Testing
import ZServe
import ZServeClient
import ZServeTesting
import ZeroMQ

/// Routing envelopes other clients produce, the admin endpoint's boundaries, and shutdown with work in flight.
@Suite struct EnvelopeAndLifecycleTests {
    @Test func lazyPirateClientsWithRequestCorrelationAreServed() throws {
        let running = try RunningServer(repository: try standardRepository())
        let context = try Context()
        let socket = try Socket(context: context, type: .request)
        defer { socket.close() }
        try socket.setRequestCorrelate(true)
        try socket.setRequestRelaxed(true)
        try socket.setReceiveTimeout(10_000)
        try socket.connect(running.endpoint)
        for id in ["first", "second"] {
            try socket.send(Array(try Envelope.request(.predict, propensityRequest(id: id)).dropFirst()))
            let reply = try #require(try socket.receive(), "the reply carries the correlation frame back")
            let status = try Zserve_V1_Status(serializedBytes: reply[0])
            #expect(status.code == .ok)
            #expect(status.requestID == id)
        }
    }

    /// A pipelining client must be able to tell which of its requests the broker refused: every reply, the broker's
    /// own RESOURCE_EXHAUSTED included, names its request.
    @Test func pipelinedRequestsPastAFullQueueAreEachAnsweredWithTheirID() throws {
        let repository = try TemporaryRepository()
        try repository.add("slow", bytes: try slowModel())
        let running = try RunningServer(repository: repository, workers: 1) { $0.queueCapacity = 4 }
        let context = try Context()
        let dealer = try Socket(context: context, type: .dealer)
        defer { dealer.close() }
        try dealer.setReceiveTimeout(30_000)
        try dealer.connect(running.endpoint)
        let ids = (0..<200).map { "p\($0)" }
        for id in ids { try dealer.send(try Envelope.request(.predict, slowRequest(id: id))) }
        var codes: [String: Zserve_V1_Code] = [:]
        for _ in ids {
            let (status, _) = try parseReply(try dealer.receive())
            #expect(codes[status.requestID] == nil, "one reply per request: \(status.requestID)")
            codes[status.requestID] = status.code
        }
        #expect(Set(codes.keys) == Set(ids))
        #expect(Set(codes.values).isSubset(of: [.ok, .resourceExhausted]))
        #expect(codes.values.contains(.resourceExhausted), "one worker and four queue places cannot hold 200 requests")
    }

    @Test func messagesWithTooManyFramesAreAnsweredWithoutBeingBuffered() throws {
        let running = try RunningServer(repository: try standardRepository())
        let frames: [[UInt8]] = [[], Method.predict.frame] + Array(repeating: [1, 2, 3], count: 50)
        let (status, _) = try parseReply(try running.exchange(frames))
        #expect(status.code == .invalidArgument)
        #expect(status.message.contains("more than"))
    }

    @Test func adminEndpointServesControlButNotPredict() throws {
        let running = try RunningServer(repository: try standardRepository()) { $0.admin = "tcp://127.0.0.1:0" }
        let adminEndpoint = try #require(running.adminEndpoint)
        #expect(adminEndpoint != running.endpoint)
        let admin = try Client(endpoint: adminEndpoint, timeoutMilliseconds: 10_000)
        #expect(try admin.listModels().models.count == 4)
        #expect {
            try admin.predict(propensityRequest())
        } throws: { error in
            (error as? Client.Failure)?.codeName == "UNIMPLEMENTED"
        }
    }

    @Test func stopAnswersEveryAcceptedRequestAndRefusesNewOnes() throws {
        let repository = try TemporaryRepository()
        try repository.add("slow", bytes: try slowModel())
        let running = try RunningServer(repository: repository, workers: 1)
        let context = try Context()
        let dealer = try Socket(context: context, type: .dealer)
        defer { dealer.close() }
        try dealer.setReceiveTimeout(30_000)
        try dealer.connect(running.endpoint)
        for i in 0..<10 {
            try dealer.send(try Envelope.request(.predict, slowRequest(id: "\(i)")))
        }
        // Wait until the server has taken the first request, then stop it while the rest are queued.
        let first = try parseReply(try dealer.receive())
        #expect(first.0.code == .ok)
        let stopped = DispatchSemaphore(value: 0)
        let server = running.server
        Thread { server.stop(); stopped.signal() }.start()
        var answered = 1
        var codes = Set<Zserve_V1_Code>()
        while answered < 10, let reply = try dealer.receive() {
            codes.insert(try parseReply(reply).0.code)
            answered += 1
        }
        stopped.wait()
        #expect(answered == 10, "every accepted request is answered before the server exits")
        #expect(codes.isSubset(of: [.ok, .unavailable]))
    }
}

/// A model slow enough (8 chained 512×512 MatMuls) to keep a worker busy while more requests arrive.
func slowModel() throws -> Data {
    var graph = ONNXGraphBuilder()
    graph.input("x", .float32, [nil, 512])
    graph.initializer("w", .init(float32: [Float](repeating: 0.001, count: 512 * 512), shape: [512, 512]))
    var previous = "x"
    for layer in 0..<8 {
        graph.node("MatMul", [previous, "w"], ["h\(layer)"])
        previous = "h\(layer)"
    }
    graph.output(previous, .float32, [nil, 512])
    return try graph.serialized()
}

/// A 256-row request for `slowModel`.
func slowRequest(id: String) -> Zserve_V1_PredictRequest {
    .with {
        $0.id = id
        $0.model.name = "slow"
        $0.inputs = [wireTensor("x", [Float](repeating: 1, count: 256 * 512), [256, 512])]
    }
}
