import Foundation
import Logging
import ServingProtocol
import ZeroMQ

/// The model manager's thread, for a server and for a `zserve worker` alike: it loads the repository, then serves
/// state-changing ModelControl requests from the broker (a server) and polls the repository between them.
///
/// Everything runs on the thread `start` creates (it owns a socket and the manager), at a lower scheduling priority
/// than the serving threads (`ThreadPriority.background`); it exits when the context shuts down.
public struct ManagerService {
    let manager: ModelManager
    /// How often the repository is scanned for versions added or removed by other tools; nil: never.
    let pollInterval: Duration?
    let logger: Logger
    private let socket: Socket

    /// Starts the thread, loads the repository on it and returns once that is done.
    ///
    /// - Parameters:
    ///   - brokerEndpoint: the broker's manager endpoint (a PAIR, inproc; connecting before the broker binds is
    ///     fine), or nil for a worker process, whose manager only polls.
    ///   - ownsRepository: false for a worker reading a repository a server writes (stale uploads are left alone).
    /// - Throws: when the repository cannot be read or the socket cannot be made.
    static func start(
        context: Context, brokerEndpoint: String?, registry: ModelRegistry, repository: ModelRepository,
        limits: ModelManager.Limits = .init(), fileLimits: ModelFileLimits = .init(), ownsRepository: Bool = true,
        pollInterval: Duration?, logger: Logger, metrics: ServerMetrics? = nil
    ) throws -> ServiceThread {
        let (thread, _) = try ServiceThread.start(name: "zserve-manager", setup: {
            // The first socket of a context starts libzmq's I/O threads, which inherit this thread's priority: make
            // it before lowering the priority.
            let socket = try Socket(context: context, type: .pair)
            ThreadPriority.lowerCurrentThread(to: ThreadPriority.background)
            // A worker's manager has no broker to hear from; its socket only lets a context shutdown end the poll.
            try socket.connect(brokerEndpoint ?? "inproc://zserve-manager-unused-\(UUID().uuidString)")
            let manager = ModelManager(
                registry: registry, repository: repository, loader: ONNXLoader(limits: fileLimits), limits: limits, logger: logger,
                metrics: metrics)
            do {
                try manager.start(ownsRepository: ownsRepository)
            } catch {
                socket.close()
                throw error
            }
            return (ManagerService(manager: manager, pollInterval: pollInterval, logger: logger, socket: socket), ())
        }, body: { service in service.run() })
        return thread
    }

    /// Starts a worker process's model manager: loads `repository` and polls it. Stops when `context` shuts down.
    ///
    /// - Throws: when the repository cannot be read.
    public static func startPolling(
        context: Context, registry: ModelRegistry, repository: ModelRepository, pollInterval: Duration, logger: Logger
    ) throws -> ServiceThread {
        try start(context: context, brokerEndpoint: nil, registry: registry, repository: repository,
                  ownsRepository: false, pollInterval: pollInterval, logger: logger)
    }

    private func run() {
        defer { socket.close() }
        let handler = ModelControlHandler(manager: manager)
        do {
            let poller = Poller([socket])
            // Housekeeping (idle uploads) runs at least every few seconds, the repository poll when it is due.
            let tick = min(pollInterval ?? .seconds(5), .seconds(5))
            var nextTick = ContinuousClock.now + tick
            var nextPoll = pollInterval.map { ContinuousClock.now + $0 }
            while true {
                let wait = max(0, Int((nextTick - ContinuousClock.now) / .milliseconds(1)))
                if try poller.poll(timeoutMilliseconds: wait)[0], let frames = try socket.receive(wait: false) {
                    try serve(frames, handler)
                }
                let now = ContinuousClock.now
                guard now >= nextTick else { continue }
                nextTick = now + tick
                manager.expireIdleUploads()
                if let due = nextPoll, now >= due, let pollInterval {
                    manager.synchronize()
                    nextPoll = ContinuousClock.now + pollInterval
                }
            }
        } catch let error as ZMQError where error.isContextTerminated {
            return
        } catch {
            logger.critical("model manager failed", metadata: ["error": "\(error)"])
        }
    }

    private func serve(_ frames: [[UInt8]], _ handler: ModelControlHandler) throws {
        guard case .work(let item)? = WorkerMessage(frames: frames) else {
            logger.warning("model manager ignoring a malformed message")
            return
        }
        let reply = handler.handle(item.method, payload: item.payload)
        try socket.send(WorkerMessage.result(
            origin: item.origin, envelope: item.envelope, status: reply.statusFrame[...], response: reply.response[...]
        ).frames)
    }
}
