import DequeModule
import Logging
import ServingProtocol
import ZeroMQ

/// The broker loop: owns the frontend, admin and worker-facing sockets on one thread, validates request envelopes,
/// answers control methods itself and hands Predict requests to idle workers, queueing them (bounded) when all are
/// busy.
///
/// Runs entirely on its own thread (`run`), which is the only user of its sockets.
final class Broker {
    struct Endpoints: Sendable {
        let frontend: String
        let admin: String?
    }

    private let configuration: ServerConfiguration
    private let controlHandler: ControlHandler
    private let logger: Logger
    private let frontend: Socket
    private let admin: Socket?
    private let backend: Socket
    private let control: Socket

    /// Workers waiting for a request, by routing id.
    private var idleWorkers: [[UInt8]] = []
    /// Workers that announced themselves and have not left.
    private var workers: Set<[UInt8]> = []
    /// Requests waiting for a worker, oldest first.
    private var queue = Deque<WorkItem>()
    /// Requests handed to workers and not yet answered (each worker holds at most one).
    private var inFlight = 0

    /// Opens and binds every socket. Throws when an endpoint cannot be bound.
    init(
        context: Context, configuration: ServerConfiguration, backendEndpoint: String, controlEndpoint: String,
        registry: ModelRegistry, workerCount: @escaping () -> Int, logger: Logger
    ) throws {
        self.configuration = configuration
        self.logger = logger
        self.controlHandler = ControlHandler(registry: registry, workerCount: workerCount)

        frontend = try Socket(context: context, type: .router)
        try frontend.setMaxMessageSize(configuration.maxMessageSize)
        try frontend.setReceiveHighWaterMark(100_000)
        try frontend.setSendHighWaterMark(100_000)
        try frontend.bind(ServerConfiguration.bindable(configuration.listen))

        if let adminEndpoint = configuration.admin {
            let socket = try Socket(context: context, type: .router)
            try socket.setMaxMessageSize(configuration.maxMessageSize)
            try socket.bind(ServerConfiguration.bindable(adminEndpoint))
            admin = socket
        } else {
            admin = nil
        }

        backend = try Socket(context: context, type: .router)
        try backend.setRouterMandatory(true)
        try backend.bind(backendEndpoint)

        control = try Socket(context: context, type: .pull)
        try control.bind(controlEndpoint)
    }

    /// The endpoints actually bound (with real port numbers).
    var endpoints: Endpoints {
        Endpoints(frontend: frontend.lastEndpoint, admin: admin?.lastEndpoint)
    }

    /// Serves until a stop arrives on the control socket (or the context shuts down), then drains: accepted requests
    /// finish within the drain timeout, new ones are no longer read. Closes every socket before returning.
    func run() {
        defer { closeSockets() }
        do {
            try serve()
            try drain()
        } catch let error as ZMQError where error.isContextTerminated {
            logger.debug("broker stopped by context shutdown")
        } catch {
            logger.critical("broker failed", metadata: ["error": "\(error)"])
        }
    }

    private func serve() throws {
        var sockets = [backend, control, frontend]
        if let admin { sockets.append(admin) }
        let poller = Poller(sockets)
        while true {
            let readable = try poller.poll(timeoutMilliseconds: -1)
            if readable[0] { try receiveFromWorkers() }
            if readable[1] { _ = try control.receive(wait: false); return }
            if readable[2] { try receiveRequests(on: frontend, origin: .frontend) }
            if readable.count > 3, readable[3], let admin { try receiveRequests(on: admin, origin: .admin) }
        }
    }

    private func drain() throws {
        let deadline = ContinuousClock.now + configuration.drainTimeout
        let poller = Poller([backend])
        while inFlight > 0 || !queue.isEmpty {
            let remaining = deadline - ContinuousClock.now
            guard remaining > .zero else {
                logger.warning("drain timeout: answering queued requests UNAVAILABLE", metadata: [
                    "queued": "\(queue.count)", "in_flight": "\(inFlight)",
                ])
                while let item = queue.popFirst() {
                    try reply(to: item.client, on: item.origin, .error(ServingError(.unavailable, "server is shutting down")))
                }
                return
            }
            let milliseconds = Int(remaining.components.seconds * 1000 + remaining.components.attoseconds / 1_000_000_000_000_000)
            if try poller.poll(timeoutMilliseconds: max(1, milliseconds))[0] { try receiveFromWorkers() }
        }
        for worker in workers {
            _ = try backend.send(WorkerMessage.disconnect.frames.withRoutingID(worker), wait: false)
        }
    }

    // MARK: Clients

    private func receiveRequests(on socket: Socket, origin: Origin) throws {
        // Take what is queued now, bounded so workers' results are not starved by a flood.
        for _ in 0..<256 {
            guard let frames = try socket.receive(wait: false) else { return }
            try accept(frames, origin: origin)
        }
    }

    private func accept(_ frames: [[UInt8]], origin: Origin) throws {
        let client = frames[0]
        let body = frames.dropFirst()
        guard body.count == 3, body.first!.isEmpty else {
            let problem = body.first?.isEmpty == false
                ? "the first frame must be the empty delimiter"
                : "expected frames [empty][method][payload], got \(body.count) frame(s)"
            try reply(to: client, on: origin, .error(ServingError(.invalidArgument, problem)))
            return
        }
        let methodFrame = frames[2]
        guard let method = Method(frame: methodFrame) else {
            let path = String(decoding: methodFrame.prefix(200), as: UTF8.self)
            let service = path.split(separator: "/", omittingEmptySubsequences: true).first.map(String.init) ?? ""
            let what = Method.services.contains(service) ? "method" : "service"
            try reply(to: client, on: origin, .error(ServingError(.unimplemented, "unknown \(what) in '\(path)'")))
            return
        }
        let payload = frames[3]
        guard method == .predict else {
            try reply(to: client, on: origin, controlHandler.handle(method, payload: payload))
            return
        }
        let item = WorkItem(origin: origin, client: client, method: method, payload: payload,
                            receivedAt: MonotonicClock.nanoseconds)
        if let worker = idleWorkers.popLast() {
            try dispatch(item, to: worker)
        } else if queue.count < configuration.queueCapacity {
            queue.append(item)
        } else {
            try reply(to: client, on: origin, .error(ServingError(
                .resourceExhausted, "all \(workers.count) workers are busy and \(queue.count) requests are queued")))
        }
    }

    private func reply(to client: [UInt8], on origin: Origin, _ reply: Reply) throws {
        try send(to: client, on: origin, status: reply.statusFrame, response: reply.response)
    }

    private func send(to client: [UInt8], on origin: Origin, status: [UInt8], response: [UInt8]) throws {
        let socket = origin == .admin ? (admin ?? frontend) : frontend
        // A client that left is dropped silently by the ROUTER; a full pipe drops the reply rather than the broker.
        _ = try socket.send([client, [], status, response], wait: false)
    }

    // MARK: Workers

    private func receiveFromWorkers() throws {
        while let frames = try backend.receive(wait: false) {
            guard frames.count >= 2, let message = WorkerMessage(frames: Array(frames.dropFirst())) else {
                logger.warning("ignoring a malformed worker message")
                continue
            }
            let worker = frames[0]
            switch message {
            case .ready:
                workers.insert(worker)
                try workerIsIdle(worker)
            case .result(let origin, let client, let status, let response):
                inFlight -= 1
                try send(to: client, on: origin, status: status, response: response)
                try workerIsIdle(worker)
            case .disconnect:
                workers.remove(worker)
                idleWorkers.removeAll { $0 == worker }
            case .work:
                logger.warning("ignoring a work message from a worker")
            }
        }
    }

    private func workerIsIdle(_ worker: [UInt8]) throws {
        if let item = queue.popFirst() {
            try dispatch(item, to: worker)
        } else {
            idleWorkers.append(worker)
        }
    }

    private func dispatch(_ item: WorkItem, to worker: [UInt8]) throws {
        guard try backend.send(WorkerMessage.work(item).frames.withRoutingID(worker), wait: false) else {
            // The worker is gone: forget it and give the request to the next one.
            workers.remove(worker)
            if let next = idleWorkers.popLast() {
                try dispatch(item, to: next)
            } else {
                queue.prepend(item)
            }
            return
        }
        inFlight += 1
    }

    private func closeSockets() {
        // Give replies already queued on the client sockets a moment to leave.
        frontend.linger = 1000
        admin?.linger = 1000
        frontend.close()
        admin?.close()
        backend.close()
        control.close()
    }
}

extension Array where Element == [UInt8] {
    /// The frames prefixed with a ROUTER routing id.
    func withRoutingID(_ id: [UInt8]) -> [[UInt8]] {
        [id] + self
    }
}
