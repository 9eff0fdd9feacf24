import Foundation
import Inference
import ServingProtocol
import Testing
@testable import ZServe

/// The one input check (`TensorSpec.validate(elementType:shape:byteCount:)`) every path uses, on wire tensors.
@Suite struct InputValidationTests {
    let spec = TensorSpec(name: "x", elementType: .float32, shape: [nil, 3])

    func check(_ tensor: Zserve_V1_Tensor) throws -> [Int] {
        let (type, shape) = try TensorCodec.header(of: tensor)
        try spec.validate(elementType: type, shape: shape, byteCount: tensor.rawData.count)
        return shape
    }

    @Test func acceptsATensorWhoseBytesMatchShapeTimesDtype() throws {
        #expect(try check(wireTensor("x", [1, 2, 3, 4, 5, 6], [2, 3])) == [2, 3])
    }

    @Test(arguments: [[2, 2], [7], [Int64.max, 3], [-1, 3], [Int64(1) << 62, 3], [6, 1]])
    func refusesShapesThatDoNotMatchTheBytesOrTheSpec(_ shape: [Int64]) {
        #expect(throws: InferenceError.self) { try check(wireTensor("x", [1, 2, 3, 4, 5, 6], shape)) }
    }

    @Test func zeroSizedTensorsAreValid() throws {
        #expect(try check(wireTensor("x", [], [0, 3])) == [0, 3])
    }

    @Test func unknownDtypesAreRefusedByName() {
        var tensor = wireTensor("x", [1, 2, 3], [1, 3])
        tensor.dtype = .unspecified
        #expect(throws: ServingError.self) { try check(tensor) }
    }
}

@Suite struct DeadlineTests {
    @Test func deadlinesExpireOnlyOnceTheirTimeHasPassed() {
        let now = MonotonicClock.nanoseconds
        #expect(PredictHandler.hasExpired(receivedAt: now - 2_000_000, timeoutMicroseconds: 1000))
        #expect(!PredictHandler.hasExpired(receivedAt: now, timeoutMicroseconds: 60_000_000))
        #expect(!PredictHandler.hasExpired(receivedAt: now, timeoutMicroseconds: UInt64.max), "no wrap-around")
        #expect(!PredictHandler.hasExpired(receivedAt: now, timeoutMicroseconds: UInt64.max / 1000))
    }
}

@Suite struct WorkerMessageTests {
    @Test func workItemsRoundTripCarryingTheRequestsAgeNotTheBrokersClock() throws {
        let arrived = MonotonicClock.nanoseconds - 5_000_000  // 5 ms ago
        let item = WorkItem(origin: .admin, envelope: [[0, 1, 2], [7, 7]], method: .predict, payload: [9, 9], receivedAt: arrived)
        let frames = WorkerMessage.work(item).frames
        let sent = MonotonicClock.nanoseconds
        let age = frames.last!.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
        #expect(age >= 5_000_000 && age <= sent - arrived, "the last frame is the age, not a timestamp")
        guard case .work(let decoded)? = WorkerMessage(frames: frames) else {
            Issue.record("not decoded as work")
            return
        }
        #expect(decoded.origin == .admin)
        #expect(decoded.envelope == [[0, 1, 2], [7, 7]])
        #expect(decoded.method == .predict)
        #expect(decoded.payload == [9, 9])
        // Back on the receiver's clock: no earlier than the arrival, no later than the time spent in between.
        #expect(decoded.receivedAt >= arrived && decoded.receivedAt <= arrived + (MonotonicClock.nanoseconds - arrived - 5_000_000))
    }

    @Test func readyAndHeartbeatRoundTrip() {
        guard case .ready(let heartbeats)? = WorkerMessage(frames: WorkerMessage.ready(heartbeats: true).frames) else {
            Issue.record("not decoded as ready")
            return
        }
        #expect(heartbeats)
        guard case .heartbeat? = WorkerMessage(frames: WorkerMessage.heartbeat.frames) else {
            Issue.record("not decoded as heartbeat")
            return
        }
    }

    @Test func resultsRoundTrip() throws {
        let frames = WorkerMessage.result(origin: .frontend, envelope: [[7]], status: [1], response: [2, 3]).frames
        guard case .result(let origin, let envelope, let status, let response)? = WorkerMessage(frames: frames) else {
            Issue.record("not decoded as result")
            return
        }
        #expect(origin == .frontend && envelope == [[7]] && status == [1] && response == [2, 3])
    }

    @Test(arguments: [
        [[UInt8]](), [[99]], [[1]], [[1], [1, 1]], [[5], [0]],
        [[2], [0], [1], [1], Array("nope/x".utf8), [], [0, 0, 0, 0, 0, 0, 0, 0]],
        [[2], [0], [0], Method.predict.frame, [], [0, 0, 0, 0, 0, 0, 0, 0]],
        [[3], [5], [1], [1], [], []],
        [[3], [0], [9], [1], [], []],
        [[6]], [[7]],
        [[6], [0], [1], [1], Method.predict.frame, [], [0, 0, 0, 0, 0, 0, 0, 0], [0]],
        [[7], [0], [1], [1], [], [], [0], [1]],
        [[2], [0], [1], [1], Method.predict.frame, [], [0, 0, 0, 0, 0, 0, 0, 0], []],
    ])
    func malformedFramesAreIgnored(_ frames: [[UInt8]]) {
        #expect(WorkerMessage(frames: frames) == nil)
    }

    @Test func batchesAndResultsRoundTripInOrder() {
        let items = (0..<40).map { i in
            WorkItem(origin: i % 2 == 0 ? .frontend : .admin, envelope: [[UInt8(i)], [1, 2]], method: .predict,
                     payload: [UInt8](repeating: UInt8(i), count: i), receivedAt: 0)
        }
        // Arrival times cross as ages (see above); with arrival 0 the receiver's value is its own clock minus the
        // age, which is not 0, so compare everything else.
        guard case .batch(let decoded)? = WorkerMessage(frames: WorkerMessage.batch(items).frames) else {
            Issue.record("not decoded as a batch")
            return
        }
        #expect(decoded.map(\.envelope) == items.map(\.envelope) && decoded.map(\.payload) == items.map(\.payload))
        #expect(decoded.map(\.origin) == items.map(\.origin) && decoded.allSatisfy { $0.method == .predict })
        let results = items.map { WorkResult(origin: $0.origin, envelope: $0.envelope, status: [8], response: $0.payload) }
        #expect(WorkerMessage(frames: WorkerMessage.results(results).frames) == .results(results))
    }
}

@Suite struct MethodTests {
    @Test func pathsResolveWithOrWithoutLeadingSlash() {
        #expect(Method(path: "zserve.v1.Inference/Predict") == .predict)
        #expect(Method(path: "/zserve.v1.ModelControl/ListModels") == .listModels)
        #expect(Method(path: "zserve.v1.Inference/predict") == nil)
        #expect(Method.services == ["zserve.v1.Inference", "zserve.v1.ModelControl"])
    }
}

/// The Swift method list is the services in Protos/: a method added there and not here (or the reverse) fails.
@Test func methodsAreTheRPCsOfTheProtos() throws {
    let protos = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../Protos/zserve/v1")
    var paths: Set<String> = []
    for file in try FileManager.default.contentsOfDirectory(atPath: protos.path) where file.hasSuffix(".proto") {
        let text = try String(contentsOf: protos.appendingPathComponent(file), encoding: .utf8)
        var service: String?
        for line in text.split(separator: "\n").map({ $0.trimmingCharacters(in: .whitespaces) }) {
            let words = line.split(whereSeparator: { " ({".contains($0) })
            if words.first == "service", words.count > 1 { service = String(words[1]) }
            if words.first == "}" { service = nil }
            if let service, words.first == "rpc", words.count > 1 { paths.insert("zserve.v1.\(service)/\(words[1])") }
        }
    }
    #expect(paths.count >= 12)
    #expect(Set(Method.allCases.map(\.rawValue)) == paths)
}
