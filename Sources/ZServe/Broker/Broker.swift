import DequeModule
import Inference
import Dispatch
import Logging
import ServingProtocol
import ZeroMQ

/// The broker loop: owns the frontend, admin and worker-facing sockets on one thread, validates request envelopes,
/// answers control methods itself and hands Predict requests to idle workers, queueing them (bounded by count and
/// bytes) when all are busy.
///
/// Runs entirely on its own thread (`run`), which is the only user of its sockets. Every request read gets exactly
/// one reply, including during shutdown.
final class Broker {
    private let configuration: ServerConfiguration
    private let controlHandler: ControlHandler
    private let registry: ModelRegistry
    private let logger: Logger
    private let frontend: Socket
    private let admin: Socket?
    private let backend: Socket
    private let manager: Socket
    private let control: Socket

    /// Workers waiting for a request, by routing id.
    private var idleWorkers: [[UInt8]] = []
    /// Workers that announced themselves and have not left.
    private var workers: Set<[UInt8]> = []
    /// The requests each busy worker holds.
    private var inFlight: [[UInt8]: [WorkItem]] = [:]
    /// Requests waiting for a worker, oldest first, and their payload bytes.
    private var queue = Deque<WorkItem>()
    private var queuedBytes = 0
    /// Queued requests per model, for batching decisions.
    private var queuedPerModel: [String: Int] = [:]
    /// Per-model AIMD batch limits, for models with a p99 target.
    private var adaptiveLimits: [String: AdaptiveBatchLimit] = [:]
    /// When each busy worker was handed its requests.
    private var dispatchedAt: [[UInt8]: UInt64] = [:]
    /// Autoscaling state: consecutive busy and quiet ticks, and when the last tick was.
    private var busyTicks = 0
    private var quietTicks = 0
    private var lastAutoscaleTick: UInt64 = 0
    /// State-changing requests handed to the model manager, which answers them in order.
    private var managerPending = Deque<WorkItem>()

    /// Frames a well-formed request can have: routing frames, the delimiter, method and payload.
    private static let frameLimit = WorkerMessage.maximumEnvelopeFrames + 3
    /// Largest payload for the control methods answered on this thread, so none can stall dispatch.
    private static let controlPayloadLimit = 1 << 20

    /// Signalled once, when as many workers as configured have announced themselves.
    private let workersReady: DispatchSemaphore
    private var announcedWorkersReady = false
    /// Local workers asked for (ScaleWorkers), started but not yet announced, and to be retired once idle.
    private var targetWorkers: Int
    private var startingWorkers = 0
    private var retiringWorkers = 0
    /// Starts that many local worker threads (thread-safe; provided by the server).
    private let startWorkers: @Sendable (Int) -> Void
    /// Most local workers ScaleWorkers accepts.
    static let maximumWorkers = 256
    /// Workers in other processes, with when each was last heard from (they heartbeat; local ones do not).
    private var remoteLastSeen: [[UInt8]: UInt64] = [:]
    private var lastHeartbeatSent: UInt64 = 0

    /// Opens and binds every socket. Throws when an endpoint cannot be bound.
    init(
        context: Context, configuration: ServerConfiguration, backendEndpoint: String, managerEndpoint: String,
        controlEndpoint: String, registry: ModelRegistry, workersReady: DispatchSemaphore,
        startWorkers: @escaping @Sendable (Int) -> Void, logger: Logger
    ) throws {
        self.workersReady = workersReady
        self.startWorkers = startWorkers
        self.targetWorkers = configuration.workers
        self.startingWorkers = configuration.workers
        self.configuration = configuration
        self.logger = logger
        self.controlHandler = ControlHandler(registry: registry)
        self.registry = registry

        frontend = try Self.clientSocket(context, configuration, configuration.listen)
        admin = try configuration.admin.map { try Self.clientSocket(context, configuration, $0) }

        backend = try Socket(context: context, type: .router)
        try backend.setRouterMandatory(true)
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

    private static func clientSocket(_ context: Context, _ configuration: ServerConfiguration, _ endpoint: String) throws -> Socket {
        let socket = try Socket(context: context, type: .router)
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
            workers: configuration.workerEndpoint == nil ? nil : backend.lastEndpoint)
    }

    /// Serves until a stop arrives on the control socket, then drains: accepted requests finish within the drain
    /// timeout while new ones are answered UNAVAILABLE. Closes every socket before returning.
    ///
    /// - Throws: what made the loop fail, other than the context shutting down.
    func run() throws {
        defer { closeSockets() }
        do {
            try serve()
            try drain()
        } catch let error as ZMQError where error.isContextTerminated {
            logger.debug("broker stopped by context shutdown")
        }
    }

    private func serve() throws {
        let poller = Poller([backend, manager, control, frontend] + (admin.map { [$0] } ?? []))
        let tick = Int(Heartbeat.interval / .milliseconds(1))
        while true {
            let readable = try poller.poll(timeoutMilliseconds: min(tick, millisecondsUntilBatchDue()))
            try checkRemoteWorkers()
            autoscale()
            try dispatchQueued()
            if readable[0] { try receiveFromWorkers() }
            if readable[1] { try receiveFromManager() }
            if readable[2] { _ = try control.receive(wait: false); return }
            if readable[3] { try receiveRequests(on: frontend, origin: .frontend, accepting: true) }
            if readable.count > 4, readable[4], let admin { try receiveRequests(on: admin, origin: .admin, accepting: true) }
        }
    }

    private func drain() throws {
        let deadline = ContinuousClock.now + configuration.drainTimeout
        let poller = Poller([backend, manager, frontend] + (admin.map { [$0] } ?? []))
        while !inFlight.isEmpty || !queue.isEmpty || !managerPending.isEmpty {
            let remaining = deadline - ContinuousClock.now
            guard remaining > .zero else {
                logger.warning("drain timeout: answering unfinished requests UNAVAILABLE", metadata: [
                    "queued": "\(queue.count)", "in_flight": "\(inFlight.count)",
                ])
                let unfinished = Array(queue) + inFlight.values.flatMap { $0 } + Array(managerPending)
                queue.removeAll()
                queuedPerModel.removeAll()
                queuedBytes = 0
                inFlight.removeAll()
                managerPending.removeAll()
                for item in unfinished {
                    try reply(to: item.envelope, on: item.origin, .error(ServingError(.unavailable, "server stopped before the request finished")))
                }
                break
            }
            let milliseconds = max(1, Int(remaining / .milliseconds(1)))
            let readable = try poller.poll(timeoutMilliseconds: min(milliseconds, Int(Heartbeat.interval / .milliseconds(1))))
            try checkRemoteWorkers()
            if readable[0] { try receiveFromWorkers() }
            if readable[1] { try receiveFromManager() }
            if readable[2] { try receiveRequests(on: frontend, origin: .frontend, accepting: false) }
            if readable.count > 3, readable[3], let admin { try receiveRequests(on: admin, origin: .admin, accepting: false) }
        }
        for worker in workers {
            _ = try backend.send(WorkerMessage.disconnect.frames.withRoutingID(worker), wait: false)
        }
    }

    // MARK: Clients

    private func receiveRequests(on socket: Socket, origin: Origin, accepting: Bool) throws {
        // Take what is queued now, bounded so workers' results are not starved by a flood.
        for _ in 0..<256 {
            guard let message = try socket.receive(wait: false, frameLimit: Self.frameLimit) else { return }
            try accept(message, origin: origin, accepting: accepting)
        }
    }

    private func accept(_ message: Message, origin: Origin, accepting: Bool) throws {
        let frames = message.frames
        // Routing frames run up to the first empty frame (the delimiter); without one, only the ROUTER's routing id.
        let delimiter = frames.indices.dropFirst().first { frames[$0].isEmpty }
        let envelope = Array(frames[..<(delimiter ?? 1)])
        func fail(_ code: Zserve_V1_Code, _ text: String) throws {
            try reply(to: envelope, on: origin, .error(ServingError(code, text)))
        }
        guard let delimiter, envelope.count <= WorkerMessage.maximumEnvelopeFrames else {
            return try fail(.invalidArgument, "expected frames [empty][method][payload]: the empty delimiter frame is missing")
        }
        guard !message.isTruncated, frames.count - delimiter - 1 == 2 else {
            let count = message.isTruncated ? "more than \(Self.frameLimit - delimiter - 1)" : "\(frames.count - delimiter - 1)"
            return try fail(.invalidArgument, "expected frames [empty][method][payload], got \(count) frame(s) after the delimiter")
        }
        guard accepting else { return try fail(.unavailable, "server is shutting down") }
        let (methodFrame, payload) = (frames[delimiter + 1], frames[delimiter + 2])
        guard let method = Method(frame: methodFrame) else {
            let path = String(decoding: methodFrame.prefix(200), as: UTF8.self)
            let service = path.split(separator: "/").first.map(String.init) ?? ""
            let what = Method.services.contains(service) ? "method" : "service"
            return try fail(.unimplemented, "unknown \(what) in '\(path)'")
        }
        if method.changesServingState {
            guard origin == .admin else {
                return try fail(.permissionDenied, "\(method.rawValue) is only served on the admin endpoint")
            }
            if method == .scaleWorkers {
                return try reply(to: envelope, on: origin, scale(payload))
            }
            let item = WorkItem(origin: origin, envelope: envelope, method: method, payload: payload,
                                receivedAt: MonotonicClock.nanoseconds)
            guard try manager.send(WorkerMessage.work(item).frames, wait: false) else {
                return try fail(.unavailable, "the model manager is not accepting requests")
            }
            managerPending.append(item)
            return
        }
        guard method == .predict else {
            guard payload.count <= Self.controlPayloadLimit else {
                return try fail(.invalidArgument, "\(method.rawValue) request of \(payload.count) bytes is too large")
            }
            try reply(to: envelope, on: origin, controlHandler.handle(method, payload: payload, workerCount: workers.count))
            return
        }
        guard origin == .frontend else {
            return try fail(.unimplemented, "Predict is served on the frontend endpoint, not the admin endpoint")
        }
        let item = WorkItem(origin: origin, envelope: envelope, method: method, payload: payload,
                            receivedAt: MonotonicClock.nanoseconds, model: Self.modelName(in: payload))
        if !policy(for: item.model).waits, let worker = idleWorkers.popLast() {
            try dispatch([item], to: worker)
        } else if queue.count < configuration.queueCapacity && queuedBytes + payload.count <= configuration.queueByteLimit {
            enqueue(item)
            try dispatchQueued()
        } else {
            try fail(.resourceExhausted, "all \(workers.count) workers are busy and the queue is full (\(queue.count) requests, \(queuedBytes) bytes)")
        }
    }

    private func reply(to envelope: [[UInt8]], on origin: Origin, _ reply: Reply) throws {
        try send(to: envelope, on: origin, status: reply.statusFrame, response: reply.response)
    }

    private func send(to envelope: [[UInt8]], on origin: Origin, status: [UInt8], response: [UInt8]) throws {
        let socket = origin == .admin ? (admin ?? frontend) : frontend
        // A client that left is dropped silently by the ROUTER; a full pipe drops the reply rather than the broker.
        _ = try socket.send(envelope + [[], status, response], wait: false)
    }

    // MARK: Model manager

    private func receiveFromManager() throws {
        while let frames = try manager.receive(wait: false) {
            guard case .result(let origin, let envelope, let status, let response)? = WorkerMessage(frames: frames) else {
                logger.warning("ignoring a malformed model manager message")
                continue
            }
            _ = managerPending.popFirst()
            try send(to: envelope, on: origin, status: status, response: response)
        }
    }

    // MARK: Workers

    private func receiveFromWorkers() throws {
        while let frames = try backend.receive(wait: false) {
            guard frames.count >= 2, let message = WorkerMessage(frames: Array(frames.dropFirst())) else {
                logger.warning("ignoring a malformed worker message")
                continue
            }
            let worker = frames[0]
            if remoteLastSeen[worker] != nil { remoteLastSeen[worker] = MonotonicClock.nanoseconds }
            switch message {
            case .ready(let heartbeats):
                workers.insert(worker)
                if heartbeats {
                    remoteLastSeen[worker] = MonotonicClock.nanoseconds
                    logger.info("remote worker joined", metadata: ["workers": "\(workers.count)"])
                } else {
                    startingWorkers = max(0, startingWorkers - 1)
                }
                if !announcedWorkersReady && workers.count >= configuration.workers {
                    announcedWorkersReady = true
                    workersReady.signal()
                }
                try workerIsIdle(worker)
            case .result(let origin, let envelope, let status, let response):
                // A result from a worker already given up on was re-queued and answered elsewhere: drop it.
                guard let items = inFlight.removeValue(forKey: worker) else { continue }
                recordLatencies(items, worker: worker)
                try send(to: envelope, on: origin, status: status, response: response)
                try workerIsIdle(worker)
            case .results(let results):
                guard let items = inFlight.removeValue(forKey: worker) else { continue }
                recordLatencies(items, worker: worker)
                for result in results {
                    try send(to: result.envelope, on: result.origin, status: result.status, response: result.response)
                }
                try workerIsIdle(worker)
            case .heartbeat:
                continue
            case .disconnect:
                try forget(worker)
            case .work, .batch:
                logger.warning("ignoring a work message from a worker")
            }
        }
    }

    private func workerIsIdle(_ worker: [UInt8]) throws {
        if retiringWorkers > 0 && remoteLastSeen[worker] == nil {
            retiringWorkers -= 1
            retire(worker)
        } else {
            idleWorkers.append(worker)
            try dispatchQueued()
        }
    }

    // MARK: Batching

    /// How requests for `model` are batched: its config.json, else the server's flags.
    private func policy(for model: String) -> BatchingPolicy {
        registry.batching(of: model)
            ?? BatchingPolicy(
                maxBatchSize: configuration.maxBatchSize, maxQueueDelay: configuration.maxQueueDelay,
                p99Target: configuration.batchP99Target)
    }

    /// Hands queued requests to idle workers, oldest first: a batch of the oldest request's model, as large as its
    /// policy allows — at once when that many are queued or the policy does not wait, else once the oldest has
    /// waited the policy's queue delay.
    private func dispatchQueued() throws {
        while !idleWorkers.isEmpty, let oldest = queue.first {
            let policy = policy(for: oldest.model)
            let queued = queuedPerModel[oldest.model, default: 0]
            let waited = MonotonicClock.nanoseconds - oldest.receivedAt
            guard !policy.waits || queued >= policy.maxBatchSize
                || waited >= UInt64(policy.maxQueueDelay / .nanoseconds(1))
            else { return }
            let size = policy.batchSize(available: queued, adaptiveLimit: adaptiveLimit(oldest.model, policy)?.limit)
            try dispatch(dequeue(model: oldest.model, count: size), to: idleWorkers.removeLast())
        }
    }

    /// The AIMD controller of `model`'s batch limit when its policy has a p99 target (made on first use).
    private func adaptiveLimit(_ model: String, _ policy: BatchingPolicy) -> AdaptiveBatchLimit? {
        guard let target = policy.p99Target, policy.maxBatchSize > 1 else { return nil }
        let nanoseconds = UInt64(target / .nanoseconds(1))
        if let existing = adaptiveLimits[model], existing.target == nanoseconds, existing.maximum == policy.maxBatchSize {
            return existing
        }
        let fresh = AdaptiveBatchLimit(targetNanoseconds: nanoseconds, maximum: policy.maxBatchSize)
        adaptiveLimits[model] = fresh
        return fresh
    }

    /// Feeds a finished batch's service time (dispatch → result) to its model's AIMD controller, if it has one.
    /// Service time rather than end-to-end latency: under overload, queueing would otherwise shrink batches, which
    /// lowers throughput and lengthens the queue further (the controller would spiral down).
    private func recordLatencies(_ items: [WorkItem], worker: [UInt8]) {
        let dispatched = dispatchedAt.removeValue(forKey: worker)
        guard let model = items.first?.model, adaptiveLimits[model] != nil, let dispatched else { return }
        let serviceTime = MonotonicClock.nanoseconds - dispatched
        adaptiveLimits[model]!.record([serviceTime])
    }

    /// Milliseconds until the oldest queued request's batch delay runs out (when a worker could take it).
    private func millisecondsUntilBatchDue() -> Int {
        guard !idleWorkers.isEmpty, let oldest = queue.first else { return Int.max }
        let policy = policy(for: oldest.model)
        guard policy.waits else { return 0 }
        let due = oldest.receivedAt + UInt64(policy.maxQueueDelay / .nanoseconds(1))
        let now = MonotonicClock.nanoseconds
        return due <= now ? 0 : Int((due - now + 999_999) / 1_000_000)
    }

    /// The model name of a PredictRequest payload (field 2, ModelSpec; its field 1, name) without decoding the
    /// rest; "" when the payload does not parse that far (the worker then answers it precisely).
    static func modelName(in payload: [UInt8]) -> String {
        payload.withUnsafeBytes { buffer in
            var request = WireReader(buffer, 0..<buffer.count)
            while let field = try? request.next() {
                guard field.number == 2, field.wireType == 2 else { continue }
                var spec = WireReader(buffer, field.value)
                while let inner = try? spec.next() {
                    if inner.number == 1, inner.wireType == 2 {
                        return String(decoding: buffer[inner.value], as: UTF8.self)
                    }
                }
            }
            return ""
        }
    }

    private func dispatch(_ items: [WorkItem], to worker: [UInt8]) throws {
        let message: WorkerMessage = items.count == 1 ? .work(items[0]) : .batch(items)
        guard try backend.send(message.frames.withRoutingID(worker), wait: false) else {
            // The worker is gone: forget it and give the requests to the next one.
            try forget(worker)
            if let next = idleWorkers.popLast() {
                try dispatch(items, to: next)
            } else {
                requeue(items)
            }
            return
        }
        inFlight[worker] = items
        dispatchedAt[worker] = MonotonicClock.nanoseconds
    }

    /// Puts requests back at the front of the queue, in their order.
    private func requeue(_ items: [WorkItem]) {
        for item in items.reversed() {
            queue.prepend(item)
            queuedBytes += item.payload.count
            queuedPerModel[item.model, default: 0] += 1
        }
    }

    /// Drops a worker that left or died; the request it held goes back to the front of the queue (predictions are
    /// idempotent), so no request is lost with a worker.
    private func forget(_ worker: [UInt8]) throws {
        workers.remove(worker)
        remoteLastSeen[worker] = nil
        dispatchedAt[worker] = nil
        idleWorkers.removeAll { $0 == worker }
        if let items = inFlight.removeValue(forKey: worker) {
            if let next = idleWorkers.popLast() {
                try dispatch(items, to: next)
            } else {
                requeue(items)
            }
        }
    }

    /// Sends heartbeats to workers in other processes and forgets those silent for `Heartbeat.liveness` intervals.
    private func checkRemoteWorkers() throws {
        guard !remoteLastSeen.isEmpty else { return }
        let now = MonotonicClock.nanoseconds
        for (worker, seen) in remoteLastSeen where now - seen > Heartbeat.deadAfterNanoseconds {
            logger.warning("remote worker silent; re-queueing its requests", metadata: ["held": "\(inFlight[worker]?.count ?? 0)"])
            try forget(worker)
        }
        if now - lastHeartbeatSent >= Heartbeat.intervalNanoseconds {
            lastHeartbeatSent = now
            for worker in remoteLastSeen.keys {
                _ = try backend.send(WorkerMessage.heartbeat.frames.withRoutingID(worker), wait: false)
            }
        }
    }

    // MARK: Scaling

    /// ScaleWorkers: starts workers at once; retires idle ones at once and busy ones when they finish their request.
    private func scale(_ payload: [UInt8]) -> Reply {
        let request: Zserve_V1_ScaleWorkersRequest
        do {
            request = try decodeRequest(Zserve_V1_ScaleWorkersRequest.self, from: payload)
        } catch {
            return .error(error)
        }
        let wanted = Int(request.workers)
        guard (0...Self.maximumWorkers).contains(wanted) else {
            return .error(ServingError(.invalidArgument, "workers must be 0...\(Self.maximumWorkers), got \(wanted)"))
        }
        let previous = targetWorkers
        setTargetWorkers(wanted)
        logger.info("scaling workers", metadata: ["from": "\(previous)", "to": "\(wanted)"])
        return .ok(Zserve_V1_ScaleWorkersResponse.with {
            $0.previous = Int32(previous)
            $0.workers = Int32(wanted)
        })
    }

    /// Starts or retires local workers to reach `wanted`: added ones serve at once, idle ones leave at once, busy ones
    /// after the request they hold.
    private func setTargetWorkers(_ wanted: Int) {
        targetWorkers = wanted
        let localWorkers = workers.count - remoteLastSeen.count
        let expected = localWorkers + startingWorkers - retiringWorkers
        if wanted > expected {
            // Cancel pending retirements first, then start what is still missing.
            let kept = min(retiringWorkers, wanted - expected)
            retiringWorkers -= kept
            let missing = wanted - expected - kept
            if missing > 0 {
                startingWorkers += missing
                startWorkers(missing)
            }
        } else if wanted < expected {
            var excess = expected - wanted
            while excess > 0, let position = idleWorkers.lastIndex(where: { remoteLastSeen[$0] == nil }) {
                retire(idleWorkers.remove(at: position))
                excess -= 1
            }
            retiringWorkers += excess
        }
    }

    /// Autoscaling between the configured bounds, once per heartbeat tick: one worker more after two ticks with
    /// more requests queued than workers, one fewer after five ticks with nothing queued and two workers idle
    /// (the asymmetry is the hysteresis: grow fast, shrink slowly).
    private func autoscale() {
        guard let bounds = configuration.autoscale else { return }
        let now = MonotonicClock.nanoseconds
        guard now - lastAutoscaleTick >= Heartbeat.intervalNanoseconds else { return }
        lastAutoscaleTick = now
        let local = workers.count - remoteLastSeen.count
        if queue.count > max(1, local) {
            busyTicks += 1
            quietTicks = 0
        } else if queue.isEmpty && idleWorkers.count >= 2 {
            quietTicks += 1
            busyTicks = 0
        } else {
            (busyTicks, quietTicks) = (0, 0)
        }
        if busyTicks >= 2 && targetWorkers < bounds.upperBound {
            logger.info("autoscaling up", metadata: ["queued": "\(queue.count)", "to": "\(targetWorkers + 1)"])
            setTargetWorkers(targetWorkers + 1)
            busyTicks = 0
        } else if quietTicks >= 5 && targetWorkers > bounds.lowerBound {
            logger.info("autoscaling down", metadata: ["to": "\(targetWorkers - 1)"])
            setTargetWorkers(targetWorkers - 1)
            quietTicks = 0
        }
    }

    /// Tells an idle worker to exit and forgets it.
    private func retire(_ worker: [UInt8]) {
        workers.remove(worker)
        _ = try? backend.send(WorkerMessage.disconnect.frames.withRoutingID(worker), wait: false)
    }

    private func enqueue(_ item: WorkItem) {
        queue.append(item)
        queuedBytes += item.payload.count
        queuedPerModel[item.model, default: 0] += 1
    }

    /// Takes up to `count` requests for `model` from the queue, oldest first (at least the first queued request).
    private func dequeue(model: String, count: Int) -> [WorkItem] {
        var items: [WorkItem] = []
        var index = queue.startIndex
        while items.count < max(1, count), index < queue.endIndex {
            if queue[index].model == model {
                let item = queue.remove(at: index)
                queuedBytes -= item.payload.count
                queuedPerModel[model, default: 1] -= 1
                if queuedPerModel[model] == 0 { queuedPerModel[model] = nil }
                items.append(item)
            } else {
                index += 1
            }
        }
        return items
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

extension Array where Element == [UInt8] {
    /// The frames prefixed with a ROUTER routing id.
    func withRoutingID(_ id: [UInt8]) -> [[UInt8]] {
        [id] + self
    }
}
