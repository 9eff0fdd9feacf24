import Logging
import ServingProtocol
import ZeroMQ

/// The model manager's thread: a PAIR socket to the broker carrying ModelControl requests that change state, and
/// the repository poll between them.
///
/// Created and run on one thread (it owns a socket); `run` exits when the context shuts down.
struct ManagerService {
    let manager: ModelManager
    /// How often the repository is scanned for versions added or removed by other tools; nil: never.
    let pollInterval: Duration?
    let logger: Logger
    private let socket: Socket

    /// Connects to the broker's manager endpoint at once (inproc allows connecting before the broker binds), so the
    /// broker can hand over requests as soon as it serves.
    init(context: Context, brokerEndpoint: String, manager: ModelManager, pollInterval: Duration?, logger: Logger) throws {
        self.manager = manager
        self.pollInterval = pollInterval
        self.logger = logger
        socket = try Socket(context: context, type: .pair)
        try socket.connect(brokerEndpoint)
    }

    func run() {
        defer { socket.close() }
        do {
            let poller = Poller([socket])
            // Housekeeping (idle uploads) runs at least every few seconds, the repository poll when it is due.
            let tick = min(pollInterval ?? .seconds(5), .seconds(5))
            var nextTick = ContinuousClock.now + tick
            var nextPoll = pollInterval.map { ContinuousClock.now + $0 }
            while true {
                let wait = max(0, Int((nextTick - ContinuousClock.now) / .milliseconds(1)))
                if try poller.poll(timeoutMilliseconds: wait)[0], let frames = try socket.receive(wait: false) {
                    try serve(frames)
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

    private func serve(_ frames: [[UInt8]]) throws {
        guard case .work(let item)? = WorkerMessage(frames: frames) else {
            logger.warning("model manager ignoring a malformed message")
            return
        }
        let reply = manager.handle(item.method, payload: item.payload)
        try socket.send(WorkerMessage.result(
            origin: item.origin, envelope: item.envelope, status: reply.statusFrame, response: reply.response
        ).frames)
    }
}
