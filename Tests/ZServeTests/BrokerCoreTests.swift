import Foundation
import Inference
import Logging
import ServingProtocol
import Testing
import ZeroMQ
@testable import ZServe
import ZServeTesting

/// Drives a `BrokerCore` directly — no sockets, no sleeps: requests and worker messages are events, time is a
/// manual clock, and what the broker would send is the list of actions.
final class CoreHarness {
    let clock = ManualClock()
    let registry = ModelRegistry()
    let core: BrokerCore

    init(
        workers: Int = 1, files: (any VersionFiles)? = nil, metrics: ServerMetrics? = nil,
        configure: (inout ServerConfiguration) -> Void = { _ in }
    ) throws {
        var graph = ONNXGraphBuilder(opset: 17)
        graph.input("x", .float32, [nil, 2])
        graph.node("Identity", ["x"], ["y"])
        graph.output("y", .float32, [nil, 2])
        let model = try Model(onnx: graph.serialized())
        for name in ["m", "other"] { registry.publish(Servable(name: name, version: 1, model: model)) }
        var configuration = ServerConfiguration(
            repository: URL(fileURLWithPath: "/nonexistent"), listen: "tcp://127.0.0.1:0", workers: workers)
        configure(&configuration)
        core = BrokerCore(
            configuration: configuration, registry: registry, clock: clock, logger: Logger(label: "test"), metrics: metrics,
            files: files)
    }

    /// A Predict from client `id` (its routing frame) for `model` (and `version` when positive).
    @discardableResult
    func predict(_ id: String, model: String = "m", version: Int64 = 0, timeoutMicroseconds: UInt64 = 0) throws -> [BrokerAction] {
        let request = Zserve_V1_PredictRequest.with {
            $0.id = id
            $0.model.name = model
            $0.model.version = version
            $0.timeoutUs = timeoutMicroseconds
            $0.inputs = [.with { $0.name = "x"; $0.dtype = .float32; $0.shape = [1, 2]; $0.rawData = Data(count: 8) }]
        }
        return core.handle(.request(.frontend, frames: PackedFrames([Array(id.utf8)] + (try Envelope.request(.predict, request))), truncated: false))
    }

    func worker(_ name: String, _ message: WorkerMessage) -> [BrokerAction] {
        core.handle(.worker(Array(name.utf8), message))
    }

    func tick(after duration: Duration = .zero) -> [BrokerAction] {
        clock.advance(by: duration)
        return core.handle(.tick)
    }

    /// A worker's reply to everything it was given, as the worker protocol sends it.
    func finish(_ name: String, _ items: [WorkItem]) -> [BrokerAction] {
        let results = items.map {
            WorkResult(origin: $0.origin, envelope: $0.envelope, status: Reply.ok(Zserve_V1_PredictResponse()).statusFrame[...], response: [])
        }
        return worker(name, results.count == 1
            ? .result(origin: results[0].origin, envelope: results[0].envelope, status: results[0].status, response: [])
            : .results(results))
    }

    func scale(to workers: Int32) throws -> [BrokerAction] {
        let frames = [Array("operator".utf8)] + (try Envelope.request(.scaleWorkers, Zserve_V1_ScaleWorkersRequest.with { $0.workers = workers }))
        return core.handle(.request(.admin, frames: PackedFrames(frames), truncated: false))
    }
}

/// The requests each worker was handed, by worker name.
///
/// - Parameter computedInline: read the work the broker computes itself for a worker (`.compute`) instead; anything
///   but work there is recorded as an issue.
func dispatched(_ actions: [BrokerAction], computedInline: Bool = false) -> [String: [WorkItem]] {
    var result: [String: [WorkItem]] = [:]
    for action in actions {
        let id: [UInt8], message: WorkerMessage
        switch action {
        case .toWorker(let worker, let sent) where !computedInline: (id, message) = (worker, sent)
        case .compute(let worker, let work) where computedInline: (id, message) = (worker, work)
        default: continue
        }
        switch message {
        case .work(let item): result[String(decoding: id, as: UTF8.self), default: []].append(item)
        case .batch(let items): result[String(decoding: id, as: UTF8.self), default: []] += items
        default: if computedInline { Issue.record("only work is computed inline, got \(message)") }
        }
    }
    return result
}

/// The replies among `actions`: client routing id, code and request id.
func replies(_ actions: [BrokerAction]) throws -> [(client: String, code: Zserve_V1_Code, requestID: String, message: String)] {
    try actions.compactMap { action in
        guard case .reply(_, let routing, let statusFrame, _) = action else { return nil }
        let status = try Zserve_V1_Status(serializedBytes: statusFrame)
        return (String(decoding: routing.first ?? [], as: UTF8.self), status.code, status.requestID, status.message)
    }
}

func disconnected(_ actions: [BrokerAction]) -> [String] {
    actions.compactMap {
        guard case .toWorker(let id, .disconnect) = $0 else { return nil }
        return String(decoding: id, as: UTF8.self)
    }
}

@Suite struct BrokerCoreTests {
    @Test func aBatchLeavesWhenFullOrWhenTheOldestHasWaitedItsDelay() throws {
        let harness = try CoreHarness { $0.maxBatchSize = 4; $0.maxQueueDelay = .milliseconds(10) }
        #expect(dispatched(harness.worker("w", .ready(heartbeats: false))).isEmpty)
        for i in 0..<3 { #expect(dispatched(try harness.predict("r\(i)")).isEmpty, "waits for a fuller batch") }
        #expect(dispatched(harness.tick(after: .milliseconds(5))).isEmpty)
        let full = dispatched(try harness.predict("r3"))
        #expect(full["w"]?.map(\.header.requestID) == ["r0", "r1", "r2", "r3"], "four queued: the batch is full")

        _ = harness.finish("w", full["w"]!)
        try harness.predict("late")
        #expect(dispatched(harness.tick(after: .milliseconds(9))).isEmpty)
        #expect(dispatched(harness.tick(after: .milliseconds(1)))["w"]?.map(\.header.requestID) == ["late"])
    }

    @Test func aBatchHoldsOneModelAndTheOldestRequestLeads() throws {
        let harness = try CoreHarness { $0.maxBatchSize = 8; $0.maxQueueDelay = .milliseconds(10) }
        _ = harness.worker("w", .ready(heartbeats: false))
        try harness.predict("a1", model: "m")
        try harness.predict("b1", model: "other")
        try harness.predict("a2", model: "m")
        let first = dispatched(harness.tick(after: .milliseconds(10)))
        #expect(first["w"]?.map(\.header.requestID) == ["a1", "a2"])
        let second = dispatched(harness.finish("w", first["w"]!))
        #expect(second["w"]?.map(\.header.requestID) == ["b1"], "the other model's request was due too")
    }

    @Test func preferredSizesAndTheServerLimitCutBatches() throws {
        let harness = try CoreHarness { $0.maxBatchSize = 3 }
        harness.registry.setBatching(name: "other", policy: BatchingPolicy(maxBatchSize: 8, maxQueueDelay: .milliseconds(1), preferredBatchSizes: [2, 4]))
        for i in 0..<5 { try harness.predict("o\(i)", model: "other") }
        let sent = dispatched(harness.worker("w", .ready(heartbeats: false)) + harness.tick(after: .milliseconds(1)))
        #expect(sent["w"]?.count == 4, "five queued, preferred sizes 2 and 4: a batch of four")
    }

    @Test func aQueuedRequestPastItsDeadlineIsAnsweredWhenItPassesWithItsID() throws {
        let harness = try CoreHarness()
        _ = harness.worker("w", .ready(heartbeats: false))
        let busy = dispatched(try harness.predict("busy"))
        #expect(busy["w"] != nil)
        try harness.predict("patient")
        try harness.predict("hurried", timeoutMicroseconds: 2_000)
        #expect(try replies(harness.tick(after: .milliseconds(1))).isEmpty)
        let expired = try replies(harness.tick(after: .milliseconds(1)))
        #expect(expired.map(\.code) == [.deadlineExceeded])
        #expect(expired.map(\.requestID) == ["hurried"])
        #expect(harness.core.queue.count == 1)
        #expect(dispatched(harness.finish("w", busy["w"]!))["w"]?.map(\.header.requestID) == ["patient"])
    }

    @Test func aFullQueueIsAnsweredAtOnceWithEachRequestsID() throws {
        let harness = try CoreHarness(workers: 0) { $0.queueCapacity = 2 }
        var answered: [String] = []
        for i in 0..<5 {
            for reply in try replies(try harness.predict("r\(i)")) {
                #expect(reply.code == .resourceExhausted)
                answered.append(reply.requestID)
            }
        }
        #expect(answered == ["r2", "r3", "r4"])
        #expect(harness.core.queue.count == 2)
    }

    @Test func requestsForAModelWithoutALiveVersionNeverReachAWorker() throws {
        let harness = try CoreHarness()
        _ = harness.worker("w", .ready(heartbeats: false))
        let actions = try harness.predict("lost", model: "missing")
        #expect(dispatched(actions).isEmpty)
        #expect(try replies(actions).map { [$0.code == .notFound, $0.requestID == "lost"] } == [[true, true]])
        harness.registry.unload(name: "m", version: 1)
        #expect(try replies(try harness.predict("gone")).map(\.code) == [.unavailable])
    }

    @Test func malformedEnvelopesAreAnsweredToTheirSender() throws {
        let harness = try CoreHarness()
        let noDelimiter = try replies(harness.core.handle(.request(.frontend, frames: PackedFrames([Array("c".utf8), Method.predict.frame, []]), truncated: false)))
        #expect(noDelimiter.map(\.code) == [.invalidArgument])
        #expect(noDelimiter.map(\.client) == ["c"])
        let unknown = try replies(harness.core.handle(.request(.frontend, frames: PackedFrames([Array("c".utf8), [], Array("x.Y/Z".utf8), []]), truncated: false)))
        #expect(unknown.map(\.code) == [.unimplemented])
        let push = try replies(harness.core.handle(.request(.frontend, frames: PackedFrames([Array("c".utf8)] + Envelope.request(.pushModel, payload: [])), truncated: false)))
        #expect(push.map(\.code) == [.permissionDenied], "state changes only on the admin endpoint")
    }

    @Test func aDrainRefusesNewRequestsAndAnswersEveryAcceptedOne() throws {
        let harness = try CoreHarness { $0.maxBatchSize = 4; $0.maxQueueDelay = .seconds(10) }
        _ = harness.worker("w", .ready(heartbeats: false))
        try harness.predict("q1")
        try harness.predict("q2")
        let sent = dispatched(harness.core.handle(.drain))
        #expect(sent["w"]?.count == 2, "a drain does not wait for fuller batches")
        let refused = try replies(try harness.predict("new"))
        #expect(refused.map { "\($0.code.name) \($0.requestID)" } == ["UNAVAILABLE new"])
        #expect(!harness.core.isIdle)
        #expect(try replies(harness.finish("w", sent["w"]!)).map(\.code) == [.ok, .ok])
        #expect(harness.core.isIdle)
        #expect(disconnected(harness.core.disconnectAll()) == ["w"])
    }

    @Test func aDrainThatTimesOutAnswersWhatIsLeftUnavailable() throws {
        let harness = try CoreHarness()
        _ = harness.worker("w", .ready(heartbeats: false))
        try harness.predict("running")
        try harness.predict("queued")
        _ = harness.core.handle(.drain)
        let abandoned = try replies(harness.core.handle(.drainTimedOut))
        #expect(Set(abandoned.map(\.requestID)) == ["running", "queued"])
        #expect(abandoned.allSatisfy { $0.code == .unavailable })
        #expect(harness.core.isIdle)
    }

    @Test func aWorkerThatDiesMidBatchLosesNoRequest() throws {
        let harness = try CoreHarness(workers: 0) { $0.maxBatchSize = 4 }
        for i in 0..<3 { try harness.predict("r\(i)") }
        let m1 = VersionKey(model: "m", version: 1)
        // A remote worker gets requests once it reports their version ready.
        #expect(dispatched(harness.worker("a", .ready(heartbeats: true))).isEmpty)
        let held = dispatched(harness.worker("a", .have([m1])))
        #expect(held["a"]?.count == 3)
        _ = harness.worker("b", .ready(heartbeats: true))
        _ = harness.worker("b", .have([m1]))
        var resent: [String: [WorkItem]] = [:]
        for _ in 0..<4 {
            // b keeps heartbeating; a is silent.
            _ = harness.worker("b", .heartbeat)
            for (worker, items) in dispatched(harness.tick(after: .seconds(1))) { resent[worker, default: []] += items }
        }
        #expect(resent["b"]?.map(\.header.requestID) == ["r0", "r1", "r2"])
        #expect(harness.core.pool.count == 1)
        // A late result from the worker given up on is dropped: each request is answered once.
        #expect(try replies(harness.finish("a", held["a"]!)).isEmpty)
        #expect(try replies(harness.finish("b", resent["b"]!)).count == 3)
    }

    @Test func aWorkerThatCannotBeReachedHandsItsRequestToTheNext() throws {
        let harness = try CoreHarness(workers: 2)
        _ = harness.worker("a", .ready(heartbeats: false))
        _ = harness.worker("b", .ready(heartbeats: false))
        let first = dispatched(try harness.predict("r"))
        let (gone, _) = try #require(first.first)
        let again = dispatched(harness.core.handle(.workerUnreachable(Array(gone.utf8))))
        #expect(again.keys.sorted() == [gone == "a" ? "b" : "a"])
        #expect(again.values.first?.map(\.header.requestID) == ["r"])
    }

    @Test func scalingOneToFourToOneRetiresBusyWorkersOnlyWhenTheyFinish() throws {
        let harness = try CoreHarness(workers: 1)
        #expect(harness.worker("w0", .ready(heartbeats: false)).contains(.workersReady))
        let up = try harness.scale(to: 4)
        #expect(up.contains(.startWorkers(3)))
        #expect(try replies(up).map(\.code) == [.ok])
        for i in 1...3 { _ = harness.worker("w\(i)", .ready(heartbeats: false)) }
        var held: [String: [WorkItem]] = [:]
        for i in 0..<4 { held.merge(dispatched(try harness.predict("r\(i)")), uniquingKeysWith: +) }
        #expect(held.count == 4, "every worker busy")
        let down = try harness.scale(to: 1)
        #expect(disconnected(down).isEmpty, "busy workers are not cut off")
        var retired: [String] = []
        for (worker, items) in held.sorted(by: { $0.key < $1.key }) {
            let actions = harness.finish(worker, items)
            #expect(try replies(actions).map(\.code) == [.ok], "\(worker) answered its request")
            retired += disconnected(actions)
        }
        #expect(retired.count == 3)
        #expect(harness.core.pool.localCount == 1)
        #expect(harness.core.pool.target == 1)
    }

    @Test func autoscalingGrowsUnderAQueueAndShrinksWhenQuiet() throws {
        let harness = try CoreHarness(workers: 1) { $0.autoscale = 1...3 }
        _ = harness.worker("w0", .ready(heartbeats: false))
        let busy = dispatched(try harness.predict("busy"))
        for i in 0..<4 { try harness.predict("q\(i)") }
        var started = 0
        for _ in 0..<3 {
            for case .startWorkers(let count) in harness.tick(after: .seconds(1)) { started += count }
        }
        #expect(started == 1, "two busy intervals: one worker more")
        _ = harness.worker("w1", .ready(heartbeats: false))
        var replied = try replies(harness.finish("w0", busy["w0"]!)).count
        // Serve everything so both workers go idle.
        while !harness.core.queue.isEmpty || !harness.core.pool.assignments.isEmpty {
            for (worker, assignment) in harness.core.pool.assignments {
                replied += try replies(harness.finish(String(decoding: worker, as: UTF8.self), assignment.items)).count
            }
        }
        #expect(replied == 5)
        var retired: [String] = []
        for _ in 0..<5 { retired += disconnected(harness.tick(after: .seconds(1))) }
        #expect(retired.count == 1, "five quiet intervals with two idle: one worker fewer")
        #expect(harness.core.pool.target == 1)
    }

    @Test func modelManagerRequestsAreAnsweredInOrderOrRefusedWhenItCannotTakeThem() throws {
        let harness = try CoreHarness()
        let frames = [Array("op".utf8)] + Envelope.request(.loadModel, payload: [])
        let actions = harness.core.handle(.request(.admin, frames: PackedFrames(frames), truncated: false))
        guard case .toManager(let item)? = actions.first else {
            Issue.record("expected the request to go to the manager: \(actions)")
            return
        }
        #expect(!harness.core.isIdle)
        let refused = try replies(harness.core.handle(.managerRefused(item)))
        #expect(refused.map(\.code) == [.unavailable])
        #expect(harness.core.isIdle)
    }
}

/// `zserve_model_queue_depth{model}`: what waits per model, back to 0 once a model's queue empties.
@Suite struct ModelQueueDepthTests {
    func depths(_ metrics: ServerMetrics, _ registry: ModelRegistry) -> [String: Double] {
        let text = String(decoding: metrics.render(models: registry), as: UTF8.self)
        var result: [String: Double] = [:]
        for line in text.split(separator: "\n") where line.hasPrefix("zserve_model_queue_depth{") {
            let parts = line.split(separator: " ")
            result[String(parts[0])] = Double(parts[1])
        }
        return result
    }

    @Test func eachModelsQueuedRequestsAreAGaugeOfTheirOwn() throws {
        let metrics = ServerMetrics()
        let harness = try CoreHarness(metrics: metrics)
        _ = harness.worker("w", .ready(heartbeats: false))
        let running = dispatched(try harness.predict("r0"))["w"]!
        try harness.predict("m1")
        try harness.predict("m2")
        try harness.predict("o1", model: "other")
        _ = harness.tick(after: .milliseconds(100))
        #expect(depths(metrics, harness.registry) == [
            #"zserve_model_queue_depth{model="m"}"#: 2, #"zserve_model_queue_depth{model="other"}"#: 1,
        ])
        var next = dispatched(harness.finish("w", running))["w"]!
        next = dispatched(harness.finish("w", next))["w"]!
        #expect(next.map(\.header.requestID) == ["m2"])
        _ = harness.tick(after: .milliseconds(100))
        #expect(depths(metrics, harness.registry) == [
            #"zserve_model_queue_depth{model="m"}"#: 0, #"zserve_model_queue_depth{model="other"}"#: 1,
        ])
    }
}
