import Dispatch
import Foundation
import Synchronization
import ZeroMQ

/// The floor a server is measured against: one libzmq socket on its own thread that answers every request with an
/// OK status and the request's own payload, decoding nothing.
///
/// A ROUTER echo returns the routing frames up to and including the delimiter, then `[status][payload]`; a REP echo
/// lets libzmq handle the envelope. Either way the reply has the frames a ZServe reply has, so `LoadGenerator` (and
/// any client matching replies by routing frames) measures it like a server. It has its own context; `stop()` ends
/// the thread. Thread-safe to stop from anywhere.
public final class RawEchoServer: Sendable {
    /// The socket type the echo binds.
    public enum Kind: String, Sendable, CaseIterable {
        /// Answers DEALER and REQ clients, many requests in flight.
        case router
        /// Answers one request at a time, REQ clients (or DEALERs that send the empty delimiter).
        case rep
    }

    /// The endpoint bound, with its real port.
    public let endpoint: String
    private let context: Context
    private let finished = DispatchSemaphore(value: 0)

    /// Binds `kind` on `bind` (`tcp://127.0.0.1:*` picks a free port) and starts answering.
    ///
    /// - Throws: the bind's `ZMQError` (e.g. address in use).
    public init(kind: Kind = .router, bind: String = "tcp://127.0.0.1:*") throws {
        let context = try Context()
        self.context = context
        let bound = DispatchSemaphore(value: 0)
        let outcome = Mutex<Result<String, Failure>>(.failure(Failure(description: "not started")))
        let finished = self.finished
        let thread = Thread {
            defer { finished.signal() }
            let socket: Socket
            do {
                socket = try Socket(context: context, type: kind == .router ? .router : .reply)
                try socket.setReceiveHighWaterMark(0)
                try socket.setSendHighWaterMark(0)
                try socket.bind(bind)
            } catch {
                outcome.withLock { $0 = .failure(Failure(description: "\(error)")) }
                bound.signal()
                return
            }
            defer { socket.close() }
            outcome.withLock { $0 = .success(socket.lastEndpoint) }
            bound.signal()
            Self.serve(socket, kind: kind)
        }
        thread.name = "raw-echo"
        thread.start()
        bound.wait()
        switch outcome.withLock({ $0 }) {
        case .success(let endpoint): self.endpoint = endpoint
        case .failure(let failure):
            finished.wait()
            throw failure
        }
    }

    /// Why the echo could not start.
    public struct Failure: Error, CustomStringConvertible, Sendable {
        public let description: String
    }

    /// Stops answering and closes the socket; blocks until the echo thread has ended. Call once.
    public func stop() {
        context.shutdown()
        finished.wait()
        context.terminate()
    }

    /// Answers until the context shuts down. An empty status frame is an encoded `zserve.v1.Status` with code OK.
    private static func serve(_ socket: Socket, kind: Kind) {
        let ok: [UInt8] = []
        while let frames = try? socket.receive() {
            switch kind {
            case .rep:
                // REP strips the envelope and puts it back on the reply: frames are [method][payload].
                _ = try? socket.send([ok, frames.last ?? []])
            case .router:
                // [routing...][empty][method][payload]: the ROUTER's id is frame 0, the delimiter the first empty
                // frame after it. Messages without one are dropped, as a server would refuse them.
                guard let delimiter = frames.indices.dropFirst().first(where: { frames[$0].isEmpty }),
                      frames.count == delimiter + 3
                else { continue }
                _ = try? socket.send(Array(frames[...delimiter]) + [ok, frames[delimiter + 2]])
            }
        }
    }
}
