import CZeroMQ

/// Waits until any of a fixed set of sockets has a message to read.
///
/// Holds its sockets strongly; like them, it belongs to one thread.
public final class Poller {
    private let sockets: [Socket]
    private var items: [zmq_pollitem_t]

    /// Creates a poller over `sockets`, watched for incoming messages; result indexes follow this order.
    public init(_ sockets: [Socket]) {
        self.sockets = sockets
        self.items = sockets.map { zmq_pollitem_t(socket: $0.handle, fd: 0, events: Int16(ZMQ_POLLIN), revents: 0) }
    }

    /// Blocks up to `timeoutMilliseconds` (-1: forever) and returns which sockets are readable.
    ///
    /// - Throws: `ZMQError` (`isContextTerminated` once the context shuts down).
    public func poll(timeoutMilliseconds: Int) throws -> [Bool] {
        while true {
            let result = items.withUnsafeMutableBufferPointer {
                zmq_poll($0.baseAddress, Int32($0.count), timeoutMilliseconds)
            }
            if result >= 0 { break }
            let error = ZMQError.last
            if error.code == EINTR { continue }
            throw error
        }
        return items.map { ($0.revents & Int16(ZMQ_POLLIN)) != 0 }
    }
}
