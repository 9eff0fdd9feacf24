import Foundation
import Inference
import ServingProtocol
import Testing
import ZeroMQ
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
        #expect(frames.count == 1, "a request travels as one frame")
        // [command][origin][age 8]...
        let age = frames[0].withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(fromByteOffset: 2, as: UInt64.self)) }
        #expect(age >= 5_000_000 && age <= sent - arrived, "the item carries its age, not a timestamp")
        guard case .work(let decoded)? = WorkerMessage(frames: frames) else {
            Issue.record("not decoded as work")
            return
        }
        #expect(decoded.origin == .admin)
        #expect(decoded.envelope == [[0, 1, 2], [7, 7]])
        #expect(decoded.envelope.frames == [[0, 1, 2], [7, 7]])
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

    /// Including `ready` as a worker of an earlier release sends it (`[1][heartbeats]`, no protocol version) or
    /// with another version: such a worker is never handed work it would not read.
    @Test(arguments: [
        [[UInt8]](), [[99]], [[1]], [[1], [1]], [[1], [1], [1]], [[1], [1, 1], [2]], [[5], [0]], [[4, 0]], [[6]], [[7]],
        [[2]], [[3]],
    ])
    func malformedFramesAreIgnored(_ frames: [[UInt8]]) {
        #expect(WorkerMessage(frames: frames) == nil)
    }

    /// A packed request or reply cut anywhere, extended, split over two frames or with one field out of range is
    /// refused whole.
    @Test func damagedPackedMessagesAreIgnored() throws {
        let item = WorkItem(origin: .frontend, envelope: [[1, 2, 3]], method: .predict, payload: [4, 5, 6], receivedAt: 0)
        let work = WorkerMessage.work(item).frames[0]
        let result = WorkerMessage.result(origin: .admin, envelope: [[1]], status: [8], response: [9, 9]).frames[0]
        for message in [work, result] {
            #expect(WorkerMessage(frames: [message]) != nil, "the undamaged message is read")
            for length in 1..<message.count {
                #expect(WorkerMessage(frames: [Array(message.prefix(length))]) == nil, "cut to \(length) bytes")
            }
            #expect(WorkerMessage(frames: [message + [0]]) == nil, "a trailing byte")
            #expect(WorkerMessage(frames: [Array(message.prefix(5)), Array(message.dropFirst(5))]) == nil, "two frames")
            var badOrigin = message
            badOrigin[1] = 9
            #expect(WorkerMessage(frames: [badOrigin]) == nil, "origin 9")
        }
        let unknownMethod = WorkItem(origin: .frontend, envelope: item.envelope, method: .predict, payload: [], receivedAt: 0)
        var bytes = WorkerMessage.work(unknownMethod).frames[0]
        bytes[19 + 10] ^= 0xff  // inside the method path (after [2][origin][age][version][length])
        #expect(WorkerMessage(frames: [bytes]) == nil, "an unknown method")
        let routing = PackedFrames((0...WorkerMessage.maximumEnvelopeFrames).map { [UInt8($0)] })
        let tooLong = WorkItem(origin: .frontend, envelope: routing, method: .predict, payload: [], receivedAt: 0)
        #expect(WorkerMessage(frames: WorkerMessage.work(tooLong).frames) == nil, "more routing frames than a request may have")
        let none = WorkItem(origin: .frontend, envelope: [], method: .predict, payload: [], receivedAt: 0)
        #expect(WorkerMessage(frames: WorkerMessage.work(none).frames) == nil, "no routing frame")
    }

    @Test func batchesAndResultsRoundTripInOrder() {
        let items = (0..<40).map { i in
            WorkItem(origin: i % 2 == 0 ? .frontend : .admin, envelope: [[UInt8(i)], [1, 2]], method: .predict,
                     payload: ArraySlice(repeating: UInt8(i), count: i), receivedAt: 0)
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
        #expect(WorkerMessage.batch(items).frames.count == 1 && WorkerMessage.results(results).frames.count == 1)
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
