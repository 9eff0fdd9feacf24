import Dispatch
import Logging
import ServingProtocol
import ZeroMQ

/// The broker loop: owns the frontend, admin, worker-facing, manager and control sockets on one thread and moves
/// frames between them and the `BrokerCore`, which decides everything.
///
/// Runs entirely on its own thread (`run`), the only user of its sockets.
final class Broker {
    private let configuration: ServerConfiguration
    private let core: BrokerCore
    /// Computes the work the core keeps on this thread (`BrokerAction.compute`), with sessions of its own.
    private let inlineWorker: PredictHandler
    private let metrics: ServerMetrics?
    private let logger: Logger
    private let frontend: Socket
    private let admin: Socket?
    private let backend: Socket
    private let manager: Socket
    private let control: Socket
    /// Signalled once, when as many workers as configured have announced themselves.
    private let workersReady: DispatchSemaphore
    /// Starts that many local worker threads (thread-safe; provided by the server).
    private let startWorkers: @Sendable (Int) -> Void

    /// Opens and binds every socket. Throws when an endpoint cannot be bound.
    init(
        context: Context, configuration: ServerConfiguration, backendEndpoint: String, managerEndpoint: String,
        controlEndpoint: String, registry: ModelRegistry, workersReady: DispatchSemaphore,
        startWorkers: @escaping @Sendable (Int) -> Void, logger: Logger, metrics: ServerMetrics? = nil,
        health: ServerHealth? = nil
    ) throws {
        self.workersReady = workersReady
        self.startWorkers = startWorkers
        self.configuration = configuration
        self.logger = logger
        self.metrics = metrics
        self.inlineWorker = PredictHandler(registry: registry, metrics: metrics, limits: configuration.requestLimits)
        self.core = BrokerCore(
            configuration: configuration, registry: registry, clock: SystemNanosecondClock(), logger: logger,
            metrics: metrics, health: health)

        let curve = configuration.curve
        frontend = try Self.clientSocket(
            context, configuration, configuration.listen, curve: curve?.frontendKeys == nil ? nil : (curve!.keys, ZAPDomain.frontend))
        admin = try configuration.admin.map { try Self.clientSocket(context, configuration, $0, curve: curve.map { ($0.keys, ZAPDomain.admin) }) }

        backend = try Socket(context: context, type: .router)
        try backend.setRouterMandatory(true)
        // Local workers connect over inproc, which libzmq does not authenticate; tcp workers must hold a listed key.
        if let curve, curve.workerKeys != nil {
            try backend.makeCurveServer(secretKey: curve.keys.secretKey, domain: ZAPDomain.workers)
        }
        try backend.bind(backendEndpoint)
        // Workers in other processes join the same socket over tcp.
        if let workerEndpoint = configuration.workerEndpoint {
            try backend.bind(ServerConfiguration.bindable(workerEndpoint))
        }

        manager = try Socket(context: context, type: .pair)
        try manager.bind(managerEndpoint)

        control = try Socket(context: context, type: .pull)
        try control.bind(controlEndpoint)
    }

    private static func clientSocket(
        _ context: Context, _ configuration: ServerConfiguration, _ endpoint: String, curve: (CurveKeyPair, String)?
    ) throws -> Socket {
        let socket = try Socket(context: context, type: .router)
        if let (keys, domain) = curve { try socket.makeCurveServer(secretKey: keys.secretKey, domain: domain) }
        // Options apply to connections accepted after they are set: before bind.
        try socket.setMaxMessageSize(configuration.maxMessageSize)
        try socket.setReceiveHighWaterMark(10_000)
        try socket.setSendHighWaterMark(10_000)
        try socket.bind(ServerConfiguration.bindable(endpoint))
        return socket
    }

    /// The endpoints actually bound (with real port numbers).
    var endpoints: Server.Endpoints {
        Server.Endpoints(
            frontend: frontend.lastEndpoint, admin: admin?.lastEndpoint,
            workers: configuration.workerEndpoint == nil ? nil : backend.lastEndpoint, metrics: nil)
    }

    /// Serves until a stop arrives on the control socket, then drains: accepted requests finish within the drain
    /// timeout while new ones are answered UNAVAILABLE. Closes every socket before returning.
    ///
    /// - Throws: what made the loop fail, other than the context shutting down.
    func run() throws {
        defer { closeSockets() }
        do {
            try loop(until: { [control] readable in
                guard readable else { return false }
                return try control.receive(wait: false) != nil
            })
            try apply(core.handle(.drain))
            let deadline = MonotonicClock.nanoseconds(after: configuration.drainTimeout)
            if !core.isIdle { try loop(until: { [core] _ in
                if core.isIdle { return true }
                if MonotonicClock.nanoseconds >= deadline {
                    try self.apply(core.handle(.drainTimedOut))
                    return true
                }
                return false
            }, wakingBy: deadline) }
            try apply(core.disconnectAll())
            // A REQ client with ZMQ_IMMEDIATE drops a reply it has received but not yet read when its connection
            // closes, so the sockets stay open until the last reply is a moment old (new requests are refused).
            noteReplies()
            let close = min(MonotonicClock.nanoseconds(after: Self.closeGrace, from: lastReplyAt),
                            MonotonicClock.nanoseconds(after: configuration.drainTimeout))
            try loop(until: { _ in MonotonicClock.nanoseconds >= close }, wakingBy: close)
        } catch let error as ZMQError where error.isContextTerminated {
            logger.debug("broker stopped by context shutdown")
        }
    }

    /// How long after the last reply the client sockets stay open when the broker stops.
    static let closeGrace: Duration = .milliseconds(250)
    /// When the last reply was sent (`MonotonicClock`), as `noteReplies` last saw it.
    private var lastReplyAt: UInt64 = 0
    /// Whether replies went out since `noteReplies` last looked.
    private var repliedThisPass = false
    /// `[empty][status][response]`, the frames after a reply's routing envelope: one array reused for every reply.
    private var replyFrames: [ArraySlice<UInt8>] = [[], [], []]

    /// Polls every socket and feeds the core until `done` (given whether the control socket is readable) says stop;
    /// a wait ends by `wakeBy` (`MonotonicClock`) at the latest, so `done` sees that moment.
    private func loop(until done: (Bool) throws -> Bool, wakingBy wakeBy: UInt64? = nil) throws {
        let sockets = [backend, manager, frontend, control] + (admin.map { [$0] } ?? [])
        let poller = Poller(sockets)
        while true {
            var wait = core.nanosecondsUntilNextEvent()
            if let wakeBy {
                let now = MonotonicClock.nanoseconds
                wait = min(wait, wakeBy > now ? wakeBy - now : 0)
            }
            let pollStart = MonotonicClock.nanoseconds
            let readable = try poller.poll(timeoutNanoseconds: wait)
            core.waited(from: pollStart, to: MonotonicClock.nanoseconds)
            try apply(core.handle(.tick))
            if readable[0] { try receiveFromWorkers() }
            if readable[1] { try receiveFromManager() }
            if readable[2] { try receiveRequests(on: frontend, origin: .frontend) }
            if readable.count > 4, readable[4], let admin { try receiveRequests(on: admin, origin: .admin) }
            noteReplies()
            if try done(readable[3]) { return }
        }
    }

    /// Records the time if replies went out since the last look: one clock read per pass, not per reply.
    private func noteReplies() {
        guard repliedThisPass else { return }
        lastReplyAt = MonotonicClock.nanoseconds
        repliedThisPass = false
    }

    private func receiveRequests(on socket: Socket, origin: Origin) throws {
        // Take what is queued now, bounded so workers' results are not starved by a flood.
        for _ in 0..<256 {
            guard let (frames, truncated) = try socket.receivePacked(wait: false, frameLimit: ReceivedRequest.frameLimit) else { return }
            try apply(core.handle(.request(origin, frames: frames, truncated: truncated)))
        }
    }

    private func receiveFromManager() throws {
        while let frames = try manager.receive(wait: false) {
            guard case .result(let origin, let envelope, let status, let response)? = WorkerMessage(frames: frames) else {
                logger.warning("ignoring a malformed model manager message")
                continue
            }
            try apply(core.handle(.managerReply(WorkResult(origin: origin, envelope: envelope, status: status, response: response))))
        }
    }

    private func receiveFromWorkers() throws {
        while let (frames, _) = try backend.receivePacked(wait: false) {
            guard let id = frames.first, let message = WorkerMessage(packed: frames.afterFirst) else {
                logger.warning("ignoring a malformed worker message (or a worker of another release)", metadata: [
                    "worker": "\(frames.first.map { $0.map { String($0, radix: 16) }.joined() } ?? "")"])
                continue
            }
            try apply(core.handle(.worker(Array(id), message)))
        }
    }

    /// Carries out the core's actions; sends that fail are fed back as events (a gone worker, a full manager pipe),
    /// and so are the results of work computed here — in a loop, not by recursion, however long the chain.
    private func apply(_ actions: [BrokerAction]) throws {
        var followUps: [BrokerEvent] = []
        try perform(actions, followUps: &followUps)
        var next = 0
        while next < followUps.count {
            let event = followUps[next]
            next += 1
            try perform(core.handle(event), followUps: &followUps)
        }
    }

    private func perform(_ actions: [BrokerAction], followUps: inout [BrokerEvent]) throws {
        for action in actions {
            switch action {
            case .reply(let origin, let routing, let status, let response):
                let socket = origin == .admin ? (admin ?? frontend) : frontend
                // A client that left is dropped silently by the ROUTER; a full pipe drops the reply rather than the
                // broker.
                (replyFrames[1], replyFrames[2]) = (status, response)
                _ = try socket.send(routing, replyFrames, wait: false)
                // The frames are copied by the send: let go of the buffers (and keep the array, without a copy).
                (replyFrames[1], replyFrames[2]) = ([], [])
                repliedThisPass = true
            case .toWorker(let id, let message):
                let sent = try message.packedFrame.map { try backend.send($0, to: id, wait: false) }
                    ?? backend.send([id] + message.frames, wait: false)
                switch message {
                case .work, .batch: if !sent { followUps.append(.workerUnreachable(id)) }
                default: continue
                }
            case .compute(let id, let message):
                // Local workers and this handler share the registry, so the result is what the worker would send.
                guard let result = inlineWorker.result(for: message) else { continue }
                if case .batch(let items) = message { metrics?.brokerComputed.increment(by: items.count) } else { metrics?.brokerComputed.increment() }
                followUps.append(.worker(id, result))
            case .toManager(let item):
                if !(try manager.send(WorkerMessage.work(item).frames, wait: false)) {
                    followUps.append(.managerRefused(item))
                }
            case .startWorkers(let count):
                startWorkers(count)
            case .workersReady:
                workersReady.signal()
            }
        }
    }

    private func closeSockets() {
        // Give replies already queued on the client sockets a moment to leave.
        frontend.linger = 1000
        admin?.linger = 1000
        frontend.close()
        admin?.close()
        backend.close()
        manager.close()
        control.close()
    }
}
