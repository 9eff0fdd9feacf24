import Logging
import ServingProtocol
import ZeroMQ

/// Something that happened at the broker's sockets or clock.
enum BrokerEvent {
    /// Frames a client sent to the frontend or admin endpoint; `truncated` when more than
    /// `ReceivedRequest.frameLimit` arrived.
    case request(Origin, frames: PackedFrames, truncated: Bool)
    /// A message from a worker (thread or remote process).
    case worker(WorkerPool.ID, WorkerMessage)
    /// A send to that worker failed: it is gone.
    case workerUnreachable(WorkerPool.ID)
    /// The model manager answered the oldest request handed to it.
    case managerReply(WorkResult)
    /// The model manager did not take a request (its pipe is full or closed).
    case managerRefused(WorkItem)
    /// Time passed: heartbeats, silent workers, autoscaling, expired deadlines, batch delays.
    case tick
    /// Stop accepting requests and finish the accepted ones.
    case drain
    /// The drain took too long: answer what is unfinished.
    case drainTimedOut
}

/// What the broker loop must do on the core's behalf.
enum BrokerAction: Equatable {
    /// Send `[routing...][empty][status][response]` on the frontend or admin socket.
    case reply(Origin, routing: PackedFrames, status: ArraySlice<UInt8>, response: ArraySlice<UInt8>)
    /// Send a worker protocol message to a worker.
    case toWorker(WorkerPool.ID, WorkerMessage)
    /// Compute this work (a `.work` or `.batch` for local worker `id`) on the broker thread instead of waking the
    /// worker, and feed the result back as `.worker(id, result)`; the worker counts as busy until then.
    case compute(WorkerPool.ID, WorkerMessage)
    /// Hand a state-changing request to the model manager (answered in order by `.managerReply`).
    case toManager(WorkItem)
    /// Start that many local worker threads.
    case startWorkers(Int)
    /// As many workers as configured have announced themselves (once).
    case workersReady
}

/// The broker's logic without sockets: takes events, returns actions, reads time from an injected clock.
///
/// Every request accepted gets exactly one reply, including during a drain. Predict requests go to idle workers or
/// wait in a bounded queue; the broker answers by itself — with the request id when the payload carries one —
/// malformed envelopes, unknown methods, a full queue, an expired deadline, a model without a live version and
/// requests arriving while it drains. Cheap read-only methods are answered here; state changes go to the model
/// manager. Not thread-safe: one broker thread drives it (tests drive it directly with a manual clock).
final class BrokerCore {
    private let configuration: ServerConfiguration
    /// `configuration.inlineCompute` in nanoseconds (0: never compute on the broker thread).
    private let inlineComputeNanoseconds: UInt64
    /// How busy the broker loop is; it computes inline only while mostly idle.
    private var loopLoad = LoopLoad()
    /// The compute time (estimated) the broker thread has spent on work since the loop last waited. Bounded by
    /// `inlineBudgetPerWakeUp`, so a queue freed at once is not computed here request after request (each result
    /// freeing the worker for the next) while nothing is received and the worker threads idle.
    private var computedSinceWait: UInt64 = 0
    /// Most compute time the broker spends on inline work between two waits (or `inlineCompute`, when larger: one
    /// batch within the limit always fits): the loop reads its sockets at least this often.
    static let inlineBudgetPerWakeUp: UInt64 = 1_000_000
    private let registry: ModelRegistry
    private let controlHandler: ControlHandler
    private let clock: any NanosecondClock
    private let logger: Logger
    private let metrics: ServerMetrics?
    private let recorder: MetricsRecorder?
    private let health: ServerHealth?
    /// When the gauges were last set (they are set at most every `gaugeInterval`).
    private var gaugesSetAt: UInt64 = 0
    private static let gaugeInterval: UInt64 = 100_000_000

    private(set) var queue: RequestQueue
    private var scheduler: BatchScheduler
    private(set) var pool: WorkerPool
    private var autoscaler: Autoscaler?
    /// State-changing requests handed to the model manager, which answers them in order.
    private(set) var managerPending: [WorkItem] = []
    private(set) var draining = false
    private var announcedReady = false
    private var lastHeartbeatSent: UInt64 = 0
    private var actions: [BrokerAction] = []
    /// The server's version files, read for remote workers fetching them.
    private let files: any VersionFiles
    /// The registry generation the remote workers' catalog was last sent for.
    private var catalogGeneration: UInt64?

    /// Largest payload for the control methods answered on the broker thread, so none can stall dispatch.
    static let controlPayloadLimit = 1 << 20
    /// Most local workers ScaleWorkers accepts.
    static let maximumWorkers = 256

    /// - Parameters:
    ///   - metrics: where requests, latencies, batch sizes, queue depth, workers and bytes are recorded (nil: nowhere).
    ///   - health: told how many workers there are, for the probes.
    ///   - files: where remote workers' fetches are read (default: the registry's version files).
    init(
        configuration: ServerConfiguration, registry: ModelRegistry, clock: any NanosecondClock, logger: Logger,
        metrics: ServerMetrics? = nil, health: ServerHealth? = nil, files: (any VersionFiles)? = nil
    ) {
        self.files = files ?? RegistryVersionFiles(registry: registry)
        self.metrics = metrics
        self.recorder = metrics.map(MetricsRecorder.init)
        self.health = health
        self.configuration = configuration
        self.inlineComputeNanoseconds = UInt64(max(0, configuration.inlineCompute / .nanoseconds(1)))
        self.registry = registry
        self.controlHandler = ControlHandler(registry: registry)
        self.clock = clock
        self.logger = logger
        queue = RequestQueue(capacity: configuration.queueCapacity, byteLimit: configuration.queueByteLimit)
        pool = WorkerPool(initial: configuration.workers)
        autoscaler = configuration.autoscale.map(Autoscaler.init(bounds:))
        let serverPolicy = BatchingPolicy(
            maxBatchSize: configuration.maxBatchSize, maxQueueDelay: configuration.maxQueueDelay,
            p99Target: configuration.batchP99Target)
        scheduler = BatchScheduler { [registry] model in registry.batching(of: model) ?? serverPolicy }
    }

    /// Applies one event; returns the actions it causes, in order (valid until the next call).
    func handle(_ event: BrokerEvent) -> [BrokerAction] {
        actions.removeAll(keepingCapacity: true)
        switch event {
        case .request(let origin, let frames, let truncated): accept(origin, frames, truncated: truncated)
        case .worker(let id, let message): receive(message, from: id)
        case .workerUnreachable(let id): lose(id)
        case .managerReply(let result):
            if !managerPending.isEmpty { managerPending.removeFirst() }
            actions.append(.reply(result.origin, routing: result.envelope, status: result.status, response: result.response))
        case .managerRefused(let item):
            managerPending.removeAll { $0.envelope == item.envelope && $0.receivedAt == item.receivedAt }
            answer(item, ServingError(.unavailable, "the model manager is not accepting requests"))
        case .tick: tick()
        case .drain:
            if !draining {
                logger.notice("draining: new requests are refused, accepted ones finish", metadata: [
                    "queued": "\(queue.count)", "running": "\(pool.assignments.values.reduce(0) { $0 + $1.items.count })",
                ])
            }
            draining = true
        case .drainTimedOut: abandonUnfinished()
        }
        sendCatalogIfChanged()
        dispatchQueued()
        health?.setWorkers(pool.count)
        if let metrics {
            for case .reply(let origin, _, let status, let response) in actions {
                metrics.bytesOut[origin]?.increment(by: Int64(status.count + response.count))
            }
        }
        return actions
    }

    /// Whether every accepted request has been answered (a drain can finish).
    var isIdle: Bool { queue.isEmpty && pool.assignments.isEmpty && managerPending.isEmpty }

    /// The messages that end a drain: every worker is told to leave.
    func disconnectAll() -> [BrokerAction] {
        pool.members.map { .toWorker($0, .disconnect) }
    }

    /// The broker loop waited idle from `start` to `end` (its clock's nanoseconds): how busy it is decides whether
    /// it computes small work itself.
    func waited(from start: UInt64, to end: UInt64) {
        loopLoad.waited(from: start, to: end)
        computedSinceWait = 0
    }

    /// Nanoseconds until the next time-driven event (heartbeat, batch delay, deadline), at most one heartbeat interval.
    func nanosecondsUntilNextEvent() -> UInt64 {
        let now = clock.now()
        var next = now &+ Heartbeat.intervalNanoseconds
        // Only a worker that can take the oldest request's version makes its batch due (no spinning while the
        // version is on its way to the remote workers).
        if let oldest = queue.oldest, pool.hasIdle(for: oldest.versionKey), let due = scheduler.batchDue(in: queue) {
            next = min(next, due)
        }
        next = min(next, queue.nextExpiry)
        return next > now ? next - now : 0
    }

    // MARK: Requests

    private func accept(_ origin: Origin, _ frames: PackedFrames, truncated: Bool) {
        let request: ReceivedRequest
        switch ReceivedRequest.parse(frames, truncated: truncated) {
        case .failure(let rejection):
            return reply(origin, rejection.routing, .error(rejection.error))
        case .success(let parsed):
            request = parsed
        }
        metrics?.bytesIn[origin]?.increment(by: Int64(request.payload.count))
        let header = request.method == .predict ? PredictHeader(payload: request.payload) : PredictHeader()
        var item = WorkItem(
            origin: origin, envelope: request.routing, method: request.method, payload: request.payload,
            receivedAt: clock.now(), header: header)
        guard !draining else { return answer(item, ServingError(.unavailable, "server is shutting down")) }
        if request.method.changesServingState {
            guard origin == .admin else {
                return answer(item, ServingError(.permissionDenied, "\(request.method.rawValue) is only served on the admin endpoint"))
            }
            if request.method == .scaleWorkers { return reply(origin, item.envelope, scale(item.payload)) }
            managerPending.append(item)
            actions.append(.toManager(item))
            return
        }
        guard request.method == .predict else {
            guard request.payload.count <= Self.controlPayloadLimit else {
                return answer(item, ServingError(.invalidArgument, "\(request.method.rawValue) request of \(request.payload.count) bytes is too large"))
            }
            return reply(origin, item.envelope, controlHandler.handle(request.method, payload: item.payload, workerCount: pool.count))
        }
        guard origin == .frontend else {
            return answer(item, ServingError(.unimplemented, "Predict is served on the frontend endpoint, not the admin endpoint"))
        }
        switch route(header) {
        case .failure(let error): return answer(item, error)
        case .success(let version): item.version = version
        }
        if scheduler.sendsAtOnce(header.model), let worker = pool.takeIdle(for: item.versionKey) {
            dispatch([item], to: worker)
        } else if queue.hasRoom(for: request.payload.count) {
            queue.append(item)
        } else {
            answer(item, ServingError(.resourceExhausted, "all \(pool.count) workers are busy and the queue is full (\(queue.count) requests, \(queue.bytes) bytes)"))
        }
    }

    /// The version a Predict request goes to: what its model spec selects in the registry (version, label, canary,
    /// default). Local workers serve every available version, remote ones what they reported ready. While the
    /// selected version is still on its way to the remote workers, a request naming no version goes to the newest
    /// version one of them has ready (so a rollout fails no request); otherwise it waits in the queue for a worker
    /// that gets the version (within its deadline and the queue's bounds, as when no worker is connected yet).
    /// 0: not routed (the payload's model name could not be read, or its version is negative); the worker decodes
    /// it and answers precisely.
    private func route(_ header: PredictHeader) -> Result<Int64, ServingError> {
        guard !header.model.isEmpty, header.version >= 0 else { return .success(0) }
        let selected: Int64
        do {
            selected = try registry.resolve(
                name: header.model, version: header.version > 0 ? header.version : nil, label: header.label,
                requestID: header.requestID).version
        } catch {
            return .failure(error)
        }
        if pool.servesEverything || header.version > 0 || pool.isReadyRemotely(VersionKey(model: header.model, version: selected)) {
            return .success(selected)
        }
        return .success(pool.newestReadyRemotely(model: header.model) ?? selected)
    }

    private func reply(_ origin: Origin, _ routing: PackedFrames, _ reply: Reply) {
        actions.append(.reply(origin, routing: routing, status: reply.statusFrame[...], response: reply.response[...]))
    }

    /// Answers `item` with `error`, echoing its request id.
    private func answer(_ item: WorkItem, _ error: ServingError) {
        if item.method == .predict, let recorder {
            recorder.countRequest(model: item.header.model, version: 0, code: error.code.rawValue)
            recorder.recordTotal(model: item.header.model, nanoseconds: clock.now() &- item.receivedAt)
        }
        reply(item.origin, item.envelope, .error(error, requestID: item.header.requestID))
    }

    // MARK: Workers

    private func receive(_ message: WorkerMessage, from id: WorkerPool.ID) {
        let now = clock.now()
        pool.heard(id, now: now)
        switch message {
        case .ready(let heartbeats):
            pool.join(id, remote: heartbeats, now: now)
            if heartbeats {
                logger.notice("remote worker joined", metadata: ["worker": "\(Self.describe(id))", "workers": "\(pool.count)"])
                actions.append(.toWorker(id, .catalog(registry.catalog())))
            }
            if !announcedReady && pool.count >= configuration.workers {
                announcedReady = true
                actions.append(.workersReady)
            }
            becameIdle(id)
        case .result(let origin, let envelope, let status, let response):
            // A result from a worker already given up on was re-queued and answered elsewhere: drop it.
            guard finished(id, now: now) else { return }
            actions.append(.reply(origin, routing: envelope, status: status, response: response))
            becameIdle(id)
        case .results(let results):
            guard finished(id, now: now) else { return }
            for result in results {
                actions.append(.reply(result.origin, routing: result.envelope, status: result.status, response: result.response))
            }
            becameIdle(id)
        case .heartbeat:
            return
        case .have(let keys):
            pool.setReady(id, Set(keys))
            rerouteQueued()
            logger.info("worker versions ready", metadata: [
                "worker": "\(Self.describe(id))", "versions": "\(keys.map(\.description).joined(separator: ", "))",
            ])
        case .missing(let key):
            guard let assignment = pool.finish(id) else { return }
            pool.dropReady(id, key)
            rerouteQueued()
            queue.prepend(reroute(assignment.items))
            becameIdle(id)
        case .fetch(let sha256, let offset, let length):
            guard pool.isRemote(id) else { return }
            switch files.read(sha256: sha256, offset: offset, length: length) {
            case .success(let bytes): actions.append(.toWorker(id, .chunk(sha256: sha256, offset: offset, bytes: bytes)))
            case .failure(let error): actions.append(.toWorker(id, .fetchFailed(sha256: sha256, reason: error.message)))
            }
        case .disconnect:
            if pool.isRemote(id) {
                logger.notice("remote worker left", metadata: [
                    "worker": "\(Self.describe(id))", "held": "\(pool.assignments[id]?.items.count ?? 0)",
                ])
            }
            lose(id)
        case .work, .batch, .catalog, .chunk, .fetchFailed:
            logger.warning("ignoring a broker-to-worker message from a worker")
        }
    }

    /// Records a finished assignment (feeding the AIMD controller); false when the worker held nothing.
    private func finished(_ id: WorkerPool.ID, now: UInt64) -> Bool {
        guard let assignment = pool.finish(id) else { return false }
        if let model = assignment.items.first?.header.model {
            scheduler.record(model: model, serviceNanoseconds: now &- assignment.dispatchedAt)
        }
        if let recorder {
            for item in assignment.items { recorder.recordTotal(model: item.header.model, nanoseconds: now &- item.receivedAt) }
        }
        return true
    }

    private func becameIdle(_ id: WorkerPool.ID) {
        if pool.becameIdle(id) { actions.append(.toWorker(id, .disconnect)) }
    }

    /// Forgets a worker that left, died or could not be reached; what it held goes back to the front of the queue
    /// (predictions are idempotent), so no request is lost with a worker.
    private func lose(_ id: WorkerPool.ID) {
        let held = pool.forget(id)
        rerouteQueued()
        if !held.isEmpty { queue.prepend(reroute(held)) }
    }

    /// Routes queued requests again after the versions the workers have changed, so none waits for a version no
    /// worker has any more. Order and arrival times are kept.
    private func rerouteQueued() {
        guard !queue.isEmpty, !pool.servesEverything || !pool.ready.isEmpty else { return }
        queue.prepend(reroute(queue.removeAll()))
    }

    /// Requests routed to a version a worker turned out not to have, or held by a worker that is gone: those whose
    /// version can no longer be served are routed again (or answered, when nothing can serve them now).
    private func reroute(_ items: [WorkItem]) -> [WorkItem] {
        items.compactMap { item in
            guard let key = item.versionKey, !(pool.servesEverything && registry.servable(key) != nil),
                  !pool.isReadyRemotely(key)
            else { return item }
            switch route(item.header) {
            case .success(let version):
                var rerouted = item
                rerouted.version = version
                return rerouted
            case .failure(let error):
                // Unloaded everywhere, or its label removed, while it waited.
                answer(item, error)
                return nil
            }
        }
    }

    /// Sends remote workers the catalog when the set of available versions changed since it was last sent.
    private func sendCatalogIfChanged() {
        let generation = registry.generation
        guard generation != catalogGeneration else { return }
        catalogGeneration = generation
        guard !pool.remotes.isEmpty else { return }
        let catalog = registry.catalog()
        for id in pool.remotes { actions.append(.toWorker(id, .catalog(catalog))) }
    }

    private func dispatch(_ items: [WorkItem], to worker: WorkerPool.ID) {
        let now = clock.now()
        if let metrics {
            metrics.batchSize.record(items.count)
            for item in items { metrics.queueWait.recordNanoseconds(Int64(clamping: now &- item.receivedAt)) }
        }
        let inlineCost = inlineCost(items, for: worker)
        if let inlineCost { computedSinceWait += inlineCost }
        pool.assign(items, to: worker, now: now)
        let message: WorkerMessage = items.count == 1 ? .work(items[0]) : .batch(items)
        actions.append(inlineCost != nil ? .compute(worker, message) : .toWorker(worker, message))
    }

    /// The estimated compute time of work for `worker` when it is better computed on the broker thread, else nil:
    /// the broker loop was mostly idle lately and no worker is busy (under load the workers compute in parallel
    /// while this thread keeps receiving and dispatching; measured, computing here then costs throughput), the
    /// worker is local (it shares the server's registry), the requests were routed to a version, that version's
    /// recent runs put the whole batch within `inlineCompute`, and the wake-up's budget has room for it. A version
    /// not run yet goes to the worker, which measures it.
    private func inlineCost(_ items: [WorkItem], for worker: WorkerPool.ID) -> UInt64? {
        guard inlineComputeNanoseconds > 0, loopLoad.busyFraction < 0.5, pool.assignments.isEmpty, !pool.isRemote(worker),
              let key = items.first?.versionKey,
              let perRequest = registry.servable(key)?.nanosecondsPerRequest
        else { return nil }
        let (cost, overflow) = perRequest.multipliedReportingOverflow(by: UInt64(items.count))
        let budget = max(Self.inlineBudgetPerWakeUp, inlineComputeNanoseconds)
        guard !overflow, cost <= inlineComputeNanoseconds, computedSinceWait + cost <= budget else { return nil }
        return cost
    }

    /// Hands queued requests to idle workers while the scheduler has a batch ready.
    private func dispatchQueued() {
        guard pool.hasIdle, !queue.isEmpty else { return }
        let now = clock.now()
        while pool.hasIdle, let (key, size) = scheduler.nextBatch(from: queue, now: now, draining: draining) {
            // The oldest request waits for a worker that has its version (remote workers still fetching it do not).
            guard let worker = pool.takeIdle(for: key.version > 0 ? VersionKey(model: key.model, version: key.version) : nil)
            else { return }
            dispatch(queue.take(key, limit: size), to: worker)
        }
    }

    // MARK: Time

    private func tick() {
        let now = clock.now()
        if let metrics, now &- gaugesSetAt >= Self.gaugeInterval {
            gaugesSetAt = now
            recordGauges(metrics)
        }
        for expired in queue.removeExpired(now: now) {
            answer(expired, ServingError(.deadlineExceeded, "deadline of \(expired.header.timeoutMicroseconds) µs passed while the request was queued"))
        }
        for id in pool.silentRemotes(now: now) {
            logger.warning("remote worker declared dead (silent); re-queueing its requests", metadata: [
                "worker": "\(Self.describe(id))", "held": "\(pool.assignments[id]?.items.count ?? 0)",
            ])
            lose(id)
        }
        if !pool.remotes.isEmpty, now &- lastHeartbeatSent >= Heartbeat.intervalNanoseconds {
            lastHeartbeatSent = now
            for id in pool.remotes { actions.append(.toWorker(id, .heartbeat)) }
        }
        if !draining, let wanted = autoscaler?.decide(
            now: now, queued: queue.count, localWorkers: pool.localCount, idleWorkers: pool.idle.count,
            target: pool.target) {
            logger.info("autoscaling", metadata: ["queued": "\(queue.count)", "from": "\(pool.target)", "to": "\(wanted)"])
            scale(to: wanted)
        }
    }

    private func recordGauges(_ metrics: ServerMetrics) {
        metrics.queueDepth.record(queue.count)
        metrics.recordModelQueueDepths(queue.countsByModel)
        let busy = pool.assignments.keys
        let remoteBusy = busy.filter(pool.isRemote).count
        let remoteIdle = pool.idle.filter(pool.isRemote).count
        metrics.recordWorkers(
            localBusy: busy.count - remoteBusy, localIdle: pool.idle.count - remoteIdle, remoteBusy: remoteBusy,
            remoteIdle: remoteIdle)
    }

    /// A worker's routing identity as logs show it (hex).
    private static func describe(_ id: WorkerPool.ID) -> String { id.hexString }

    /// Answers every unfinished request UNAVAILABLE (the drain timed out).
    private func abandonUnfinished() {
        let unfinished = queue.removeAll() + pool.assignments.values.flatMap(\.items) + managerPending
        logger.warning("drain timeout: answering unfinished requests UNAVAILABLE", metadata: ["requests": "\(unfinished.count)"])
        for id in Array(pool.assignments.keys) { _ = pool.finish(id) }
        managerPending.removeAll()
        for item in unfinished {
            answer(item, ServingError(.unavailable, "server stopped before the request finished"))
        }
    }

    // MARK: Scaling

    /// ScaleWorkers: starts workers at once; retires idle ones at once and busy ones when they finish.
    private func scale(_ payload: ArraySlice<UInt8>) -> Reply {
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
        let previous = pool.target
        logger.info("scaling workers", metadata: ["from": "\(previous)", "to": "\(wanted)"])
        scale(to: wanted)
        return .ok(Zserve_V1_ScaleWorkersResponse.with {
            $0.previous = Int32(previous)
            $0.workers = Int32(wanted)
        })
    }

    private func scale(to wanted: Int) {
        let (start, retire) = pool.scale(to: wanted)
        if start > 0 { actions.append(.startWorkers(start)) }
        for id in retire { actions.append(.toWorker(id, .disconnect)) }
    }
}
