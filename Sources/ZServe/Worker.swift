import Dispatch
import Logging
import ServingProtocol
import ZeroMQ

/// An inference worker: a DEALER socket on the broker's worker endpoint, serving one request at a time.
///
/// Runs entirely on its own thread (`run`). It announces itself ready, then for each work item replies with a result,
/// which also tells the broker it is free again. A worker in another process (`heartbeats`) also exchanges heartbeats
/// with the broker and, when the broker stays silent for `Heartbeat.liveness` intervals, reconnects and announces
/// itself again. Exits on a disconnect from the broker or when the context shuts down.
public struct Worker: Sendable {
    /// Why a worker stopped other than being asked to.
    public enum Failure: Error, CustomStringConvertible {
        case brokerSilent

        public var description: String { "the broker sent nothing for \(Heartbeat.liveness) heartbeat intervals" }
    }

    let context: Context
    let brokerEndpoint: String
    let registry: ModelRegistry
    let heartbeats: Bool
    let logger: Logger
    let metrics: ServerMetrics?
    let curve: CurveClientCredentials?
    let limits: RequestLimits
    /// Where a worker in another process gets its models and reports them ready (nil: a worker thread sharing the
    /// server's registry, which serves every available version).
    let models: WorkerModels?

    /// - Parameters:
    ///   - metrics: where answered requests and compute times are recorded (nil: nowhere).
    ///   - curve: credentials for a worker endpoint that requires CurveZMQ (`serve --worker-keys`).
    ///   - models: for a worker in another process, where its models come from (fetched from the server into a
    ///     cache, or its own repository); the versions ready are reported to the broker, which routes only those here.
    public init(
        context: Context, brokerEndpoint: String, registry: ModelRegistry, heartbeats: Bool, logger: Logger,
        metrics: ServerMetrics? = nil, curve: CurveClientCredentials? = nil, limits: RequestLimits = RequestLimits(),
        models: WorkerModels? = nil
    ) {
        self.models = models
        self.metrics = metrics
        self.limits = limits
        self.curve = curve
        self.context = context
        self.brokerEndpoint = brokerEndpoint
        self.registry = registry
        self.heartbeats = heartbeats
        self.logger = logger
    }

    /// Serves until the broker says disconnect (returns normally) or the context shuts down. A remote worker whose
    /// broker falls silent (a partition, a restart) opens a new connection and announces itself again, so it rejoins
    /// as soon as the broker is reachable; the request it held was re-queued by the broker meanwhile.
    ///
    /// - Throws: the socket error that ended the loop.
    public func run() throws {
        let connection = models?.source.attach() ?? 0
        while true {
            do {
                return try runConnection(connection)
            } catch Failure.brokerSilent {
                logger.warning("broker silent; reconnecting", metadata: ["broker": "\(brokerEndpoint)"])
                models?.source.reset(connection: connection)
            }
        }
    }

    /// One connection to the broker, until it ends.
    ///
    /// - Throws: `Failure.brokerSilent` when heartbeats stop, or the socket error that ended the loop.
    private func runConnection(_ connection: Int) throws {
        let socket = try Socket(context: context, type: .dealer)
        defer { socket.close() }
        try curve?.apply(to: socket)
        try socket.connect(brokerEndpoint)
        do {
            try serve(on: socket, connection: connection)
        } catch let error as ZMQError where error.isContextTerminated {
            return
        } catch {
            // Tell the broker, so it hands the request this worker held to another one.
            _ = try? socket.send(WorkerMessage.disconnect.frames, wait: false)
            throw error
        }
    }

    private func serve(on socket: Socket, connection: Int) throws {
        try socket.send(WorkerMessage.ready(heartbeats: heartbeats).frames)
        let predict = PredictHandler(registry: registry, metrics: metrics, limits: limits)
        let poller = Poller([socket])
        var lastHeard = MonotonicClock.nanoseconds
        var lastSent = lastHeard
        var report = ReadyReport()
        func send(_ message: WorkerMessage) throws {
            _ = try message.packedFrame.map { try socket.send($0) } ?? socket.send(message.frames)
            lastSent = MonotonicClock.nanoseconds
        }
        while true {
            if let source = models?.source {
                if let have = report.changed(source, connection) { try send(.have(have)) }
                if source.isSettling { for message in source.outbox(connection: connection) { try send(message) } }
            }
            if heartbeats {
                let now = MonotonicClock.nanoseconds
                if now - lastHeard > Heartbeat.deadAfterNanoseconds { throw Failure.brokerSilent }
                if now - lastSent >= Heartbeat.intervalNanoseconds { try send(.heartbeat) }
                // Read the clock again: a heartbeat just sent moved `lastSent` past `now`.
                let sinceSent = MonotonicClock.nanoseconds - lastSent
                var wait = Int((Heartbeat.intervalNanoseconds - min(Heartbeat.intervalNanoseconds, sinceSent)) / 1_000_000)
                // While versions are fetched and loaded, look often for a ready set to report.
                if models?.source.isSettling == true { wait = min(wait, 20) }
                guard try poller.poll(timeoutMilliseconds: max(1, wait))[0] else { continue }
            }
            guard let (frames, _) = try socket.receivePacked(wait: !heartbeats) else { continue }
            lastHeard = MonotonicClock.nanoseconds
            let message = WorkerMessage(packed: frames)
            if let message, let result = predict.result(for: message) {
                try send(result)
                continue
            }
            switch message {
            case .heartbeat:
                continue
            case .disconnect:
                return
            case .catalog, .chunk, .fetchFailed:
                for reply in models?.source.receive(message!, connection: connection) ?? [] { try send(reply) }
            default:
                logger.warning("worker ignoring an unexpected message")
            }
        }
    }

    /// The ready set last reported on a connection, so a report is sent only when it changes.
    private struct ReadyReport {
        var generation: UInt64?
        var sent: [VersionKey]?

        /// The connection's ready set when it differs from the last one sent (always on a fresh connection).
        mutating func changed(_ source: any WorkerModelSource, _ connection: Int) -> [VersionKey]? {
            let now = source.generation
            guard now != generation else { return nil }
            generation = now
            let ready = source.ready(connection: connection)
            guard ready != sent else { return nil }
            sent = ready
            return ready
        }
    }
}
