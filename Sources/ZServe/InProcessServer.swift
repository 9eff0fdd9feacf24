import Foundation
import Logging
import ServingProtocol
import ZeroMQ

/// A server without sockets or threads: each call goes through the same broker core, Predict handling and model
/// manager as a running server's, on the caller's thread — the way HummingbirdTesting's router mode skips the
/// network. For tests of code that embeds or talks to ZServe; `ZServeTesting.InMemoryClient` wraps it with typed calls.
///
/// It runs at least one worker. The repository is loaded at init (versions failing warm-up on generated inputs are served, as at a server's
/// start); `poll()` rescans it. Batching delays are honoured by waiting on the real clock. Not thread-safe: one
/// caller at a time.
public final class InProcessServer {
    public let registry: ModelRegistry
    private let core: BrokerCore
    private let manager: ModelManager
    private let control: ModelControlHandler
    /// One Predict handler (its sessions) per worker, by worker id.
    private var workers: [[UInt8]: PredictHandler] = [:]
    private var nextWorker = 0
    private var nextCaller: UInt64 = 0
    private let requestLimits: RequestLimits

    /// - Throws: when the repository cannot be read.
    public init(configuration: ServerConfiguration, logger: Logger = Logger(label: "zserve-in-process")) throws {
        registry = ModelRegistry(canarySeed: configuration.canarySeed)
        requestLimits = configuration.requestLimits
        manager = ModelManager(
            registry: registry, repository: ModelRepository(root: configuration.repository),
            loader: ONNXLoader(limits: configuration.modelFileLimits), limits: ModelManager.limits(configuration), logger: logger)
        try manager.start()
        control = ModelControlHandler(manager: manager)
        core = BrokerCore(configuration: configuration, registry: registry, clock: SystemNanosecondClock(), logger: logger)
        var pending: [BrokerAction] = []
        for _ in 0..<max(1, configuration.workers) { pending += core.handle(.worker(addWorker(), .ready(heartbeats: false))) }
        _ = run(pending, until: nil)
    }

    /// Serves one request as if it arrived on the frontend (or the admin endpoint) and returns its reply.
    public func call(_ method: Method, payload: [UInt8], admin: Bool = false) -> ReplyEnvelope {
        let frames = receive(frames: Envelope.request(method, payload: payload), admin: admin)
        // The reply frames were made by the server itself: [empty][status][response] always parses.
        return (try? ReplyEnvelope(frames: frames)) ?? ReplyEnvelope.internalError
    }

    /// Serves frames exactly as a client sent them (the ROUTER adds its routing id in front, as a real one does) and
    /// returns the reply's frames after that id: the client's own routing frames, then [empty][status][response].
    /// Any frames at all are accepted, so this is the entry for fuzzing and malformed-request tests.
    ///
    /// - Parameter truncated: whether more frames arrived than the broker reads (`ReceivedRequest.frameLimit`).
    public func receive(frames: [[UInt8]], truncated: Bool = false, admin: Bool = false) -> [[UInt8]] {
        nextCaller += 1
        let routing = [withUnsafeBytes(of: nextCaller.littleEndian, Array.init)]
        let actions = core.handle(.request(admin ? .admin : .frontend, frames: PackedFrames(routing + frames), truncated: truncated))
        return run(actions, until: routing[0])
    }

    /// Rescans the repository (what the server's poll does every `--poll-interval`).
    public func poll() {
        manager.synchronize()
    }

    private func addWorker() -> [UInt8] {
        nextWorker += 1
        let id = Array("in-process-worker-\(nextWorker)".utf8)
        workers[id] = PredictHandler(registry: registry, limits: requestLimits)
        return id
    }

    /// Carries out actions (running workers and the manager inline) until the reply to the caller `routing` (a
    /// ROUTER id: the first routing frame) appears; returns its frames after that id (any further routing frames,
    /// then [empty][status][response]). With no `routing`, runs until nothing is left.
    private func run(_ initial: [BrokerAction], until routing: [UInt8]?) -> [[UInt8]] {
        var pending = initial[...]
        var reply: [[UInt8]]?
        while true {
            while let action = pending.popFirst() {
                switch action {
                case .reply(_, let to, let status, let response) where routing != nil && to.first.map(Array.init) == routing:
                    reply = to.frames.dropFirst() + Envelope.reply(status: Array(status), response: Array(response))
                case .toWorker(let id, .disconnect):
                    workers[id] = nil
                case .toWorker(let id, let message), .compute(let id, let message):
                    if let result = workers[id]?.result(for: message) { pending += core.handle(.worker(id, result)) }
                case .toManager(let item):
                    let answer = control.handle(item.method, payload: item.payload)
                    pending += core.handle(.managerReply(WorkResult(
                        origin: item.origin, envelope: item.envelope, status: answer.statusFrame[...], response: answer.response[...])))
                case .startWorkers(let count):
                    for _ in 0..<count { pending += core.handle(.worker(addWorker(), .ready(heartbeats: false))) }
                case .reply, .workersReady:
                    continue
                }
            }
            if let reply { return reply }
            if routing == nil || workers.isEmpty { return [] }
            // Queued for a fuller batch: wait for its delay on the real clock.
            let wait = core.nanosecondsUntilNextEvent()
            if wait > 0 { Thread.sleep(forTimeInterval: Double(wait) / 1e9) }
            pending += core.handle(.tick)
        }
    }
}

extension ReplyEnvelope {
    /// The reply for a request an in-process server lost track of (not expected to happen).
    fileprivate static var internalError: ReplyEnvelope {
        let status = ServingError(.internal, "no reply").status()
        // An encoded Status always parses back.
        return try! ReplyEnvelope(frames: [(try? status.serializedBytes()) ?? [], []])
    }
}
