import Logging
import ServingProtocol
import ZeroMQ

/// An inference worker: a DEALER socket on the broker's worker endpoint, serving one request at a time.
///
/// Runs entirely on its own thread (`run`). It announces itself ready, then for each work item replies with a result,
/// which also tells the broker it is free again. Exits on a disconnect from the broker or when the context shuts down.
struct Worker {
    let context: Context
    let brokerEndpoint: String
    let registry: ModelRegistry
    let logger: Logger

    func run() {
        let socket: Socket
        do {
            socket = try Socket(context: context, type: .dealer)
            try socket.connect(brokerEndpoint)
        } catch {
            logger.critical("worker could not connect to the broker", metadata: ["error": "\(error)"])
            return
        }
        defer { socket.close() }
        do {
            try serve(on: socket)
        } catch let error as ZMQError where error.isContextTerminated {
            return
        } catch {
            logger.critical("worker failed", metadata: ["error": "\(error)"])
            // Tell the broker, so it answers the request this worker held and stops counting on it.
            _ = try? socket.send(WorkerMessage.disconnect.frames, wait: false)
        }
    }

    private func serve(on socket: Socket) throws {
        try socket.send(WorkerMessage.ready.frames)
        let predict = PredictHandler(registry: registry)
        while let frames = try socket.receive() {
            switch WorkerMessage(frames: frames) {
            case .work(let item):
                let reply = item.method == .predict
                    ? predict.handle(payload: item.payload, receivedAt: item.receivedAt)
                    : .error(ServingError(.unimplemented, "workers serve Predict only"))
                try socket.send(WorkerMessage.result(
                    origin: item.origin, envelope: item.envelope, status: reply.statusFrame, response: reply.response
                ).frames)
            case .disconnect:
                return
            default:
                logger.warning("worker ignoring an unexpected message")
            }
        }
    }
}
