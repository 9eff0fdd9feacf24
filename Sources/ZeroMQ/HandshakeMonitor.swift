import CZeroMQ
import Synchronization

/// Watches a socket's connections (libzmq's socket monitor), so a client that gets no reply can tell "the server
/// refused my key" or "the server wants CURVE" from "the server is slow", and notice "a server went away".
///
/// Owned by the thread that owns the watched socket; read it while waiting for a reply.
public final class HandshakeMonitor {
    /// Why a handshake failed.
    public enum Failure: Equatable, Sendable {
        /// The server's authentication handler refused the key, with its ZAP status code (e.g. 400).
        case refused(status: Int)
        /// The two sides spoke different security mechanisms (e.g. a plain client to a CURVE endpoint), or the
        /// server's public key was wrong.
        case mechanism
    }

    private static let counter = Atomic<Int>(0)
    private let socket: Socket
    /// Peers whose handshake completed and that have not disconnected since, by address.
    private var established: Set<[UInt8]> = []

    /// Starts monitoring `watched` (before it connects) through a PAIR socket in `context`.
    public init(watching watched: Socket, context: Context) throws {
        let endpoint = "inproc://zserve-handshake-monitor-\(Self.counter.add(1, ordering: .relaxed).newValue)"
        let events = ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH
            | ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_DISCONNECTED
        try watched.check(zmq_socket_monitor(watched.handle, endpoint, events))
        socket = try Socket(context: context, type: .pair)
        socket.linger = 0
        try socket.connect(endpoint)
    }

    deinit { socket.close() }

    /// What happened since the last call: the latest handshake failure (or nil), and whether a connection that had
    /// completed its handshake was lost since (one refused at the handshake, or never made, does not count).
    public func events() -> (failure: Failure?, disconnected: Bool) {
        var latest: Failure?
        var disconnected = false
        while let frames = try? socket.receive(wait: false), let header = frames.first, header.count >= 6 {
            let event = Int32(header[0]) | Int32(header[1]) << 8
            let value = Int(header[2]) | Int(header[3]) << 8 | Int(header[4]) << 16 | Int(header[5]) << 24
            let address = frames.count > 1 ? frames[1] : []
            switch event {
            case ZMQ_EVENT_HANDSHAKE_SUCCEEDED: established.insert(address)
            case ZMQ_EVENT_DISCONNECTED: if established.remove(address) != nil { disconnected = true }
            case ZMQ_EVENT_HANDSHAKE_FAILED_AUTH: latest = .refused(status: value)
            default: latest = .mechanism
            }
        }
        return (latest, disconnected)
    }
}
