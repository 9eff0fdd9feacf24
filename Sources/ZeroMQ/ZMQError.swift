import CZeroMQ

/// An error reported by libzmq, carrying its `errno` value.
public struct ZMQError: Error, Equatable, CustomStringConvertible {
    /// The `errno` value libzmq set.
    public let code: Int32

    /// Wraps an explicit `errno` value.
    public init(code: Int32) {
        self.code = code
    }

    /// The error libzmq reported for the calling thread's last failed call.
    static var last: ZMQError { ZMQError(code: zmq_errno()) }

    /// True when the socket's context was shut down or terminated: the owning thread should close its sockets and return.
    public var isContextTerminated: Bool { code == ETERM }

    public var description: String {
        guard let text = zmq_strerror(code) else { return "zmq error \(code)" }
        return String(cString: text)
    }
}
