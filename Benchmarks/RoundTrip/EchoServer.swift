import Foundation
import ServingProtocol
import Synchronization
import ZeroMQ

/// The floor: a ROUTER on its own thread that answers [id][empty][method][payload] with [id][empty][OK][payload],
/// without decoding anything.
final class EchoServer: Sendable {
    let endpoint: String
    private let context: Context
    private let finished = DispatchSemaphore(value: 0)

    init() throws {
        let context = try Context()
        self.context = context
        let bound = DispatchSemaphore(value: 0)
        let boundEndpoint = Mutex("")
        let finished = self.finished
        Thread {
            defer { finished.signal() }
            guard let socket = try? Socket(context: context, type: .router), (try? socket.bind("tcp://127.0.0.1:*")) != nil else {
                bound.signal()
                return
            }
            defer { socket.close() }
            boundEndpoint.withLock { $0 = socket.lastEndpoint }
            bound.signal()
            let ok: [UInt8] = (try? Zserve_V1_Status().serializedBytes()) ?? []
            while let frames = try? socket.receive(), frames.count == 4 {
                _ = try? socket.send([frames[0], [], ok, frames[3]])
            }
        }.start()
        bound.wait()
        self.endpoint = boundEndpoint.withLock { $0 }
    }

    func stop() {
        context.shutdown()
        finished.wait()
    }
}
