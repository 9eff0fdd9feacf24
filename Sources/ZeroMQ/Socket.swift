import CZeroMQ

/// One ZeroMQ socket; frames are sent and received as byte arrays.
///
/// Not thread-safe (libzmq sockets are not), so not `Sendable`: create a socket on the thread that uses it. The socket
/// is closed by `close()` or when it is deinitialized; it keeps its `Context` alive until then. Every socket starts with
/// `LINGER` 0, so closing never blocks on undelivered messages — set `linger` for sockets that must flush on close.
public final class Socket {
    /// The `void *` libzmq handle; only used on the owning thread.
    let handle: UnsafeMutableRawPointer
    /// Retained so that the context outlives the socket.
    public let context: Context
    private var isClosed = false

    /// Opens a socket of `type` on `context`.
    public init(context: Context, type: SocketType) throws {
        guard let handle = zmq_socket(context.handle, type.rawValue) else { throw ZMQError.last }
        self.handle = handle
        self.context = context
        try setOption(ZMQ_LINGER, Int32(0))
    }

    deinit { close() }

    /// Closes the socket; later calls are no-ops.
    public func close() {
        guard !isClosed else { return }
        isClosed = true
        zmq_close(handle)
    }

    /// Binds to `endpoint`, e.g. `tcp://127.0.0.1:*` (any free port) or `inproc://name`.
    public func bind(_ endpoint: String) throws {
        try check(zmq_bind(handle, endpoint))
    }

    /// Connects to `endpoint`; the connection itself is made in the background.
    public func connect(_ endpoint: String) throws {
        try check(zmq_connect(handle, endpoint))
    }

    /// Disconnects from an endpoint previously connected.
    public func disconnect(_ endpoint: String) throws {
        try check(zmq_disconnect(handle, endpoint))
    }

    /// Sends `frames` as one multipart message.
    ///
    /// - Parameter wait: when false, returns `false` instead of blocking if the message cannot be queued now
    ///   (high-water mark reached, or a ROUTER_MANDATORY peer that is gone).
    /// - Throws: `ZMQError` (with `isContextTerminated` when the context shuts down).
    @discardableResult
    public func send(_ frames: [[UInt8]], wait: Bool = true) throws -> Bool {
        try send(frames, [], wait: wait)
    }

    /// Sends `head` then `tail` as one multipart message (e.g. routing frames then a reply), without joining them
    /// into one array first. Same contract as `send(_:wait:)`.
    @discardableResult
    public func send(_ head: [[UInt8]], _ tail: [[UInt8]], wait: Bool = true) throws -> Bool {
        let count = head.count + tail.count
        precondition(count > 0, "a ZeroMQ message has at least one frame")
        var index = 0
        func sendAll(_ frames: [[UInt8]]) throws -> Bool {
            for frame in frames {
                var flags: Int32 = wait ? 0 : ZMQ_DONTWAIT
                if index < count - 1 { flags |= ZMQ_SNDMORE }
                index += 1
                // libzmq queues all frames of a message atomically or none: only the first can fail with EAGAIN.
                if !(try sendFrame(frame, flags: flags)) { return false }
            }
            return true
        }
        return try sendAll(head) && sendAll(tail)
    }

    private func sendFrame(_ frame: [UInt8], flags: Int32) throws -> Bool {
        while true {
            // zmq_send copies the bytes before it returns, so the buffer only has to live for the call.
            let result = frame.withUnsafeBytes { zmq_send(handle, $0.baseAddress, $0.count, flags) }
            if result >= 0 { return true }
            let error = ZMQError.last
            if error.code == EINTR { continue }
            if error.code == EAGAIN || error.code == EHOSTUNREACH { return false }
            throw error
        }
    }

    /// Receives one multipart message.
    ///
    /// - Parameter wait: when false, returns nil at once if no message is queued.
    /// - Returns: the frames, or nil when `wait` is false and nothing is queued, or the receive timeout expired.
    public func receive(wait: Bool = true) throws -> [[UInt8]]? {
        try receive(wait: wait, frameLimit: Int.max)?.frames
    }

    /// Receives one multipart message, copying at most `frameLimit` frames; the rest are read and dropped, so a
    /// peer cannot make the receiver buffer a message of unbounded frame count.
    public func receive(wait: Bool = true, frameLimit: Int) throws -> Message? {
        var message = Message(frames: [], isTruncated: false)
        var part = zmq_msg_t()
        zmq_msg_init(&part)
        defer { zmq_msg_close(&part) }
        var received = 0
        while true {
            let flags: Int32 = (wait || received > 0) ? 0 : ZMQ_DONTWAIT
            if zmq_msg_recv(&part, handle, flags) < 0 {
                let error = ZMQError.last
                if error.code == EINTR { continue }
                if error.code == EAGAIN && received == 0 { return nil }
                throw error
            }
            received += 1
            // Requests and worker messages have a handful of frames: one allocation instead of growing 1, 2, 4, 8.
            if received == 1 { message.frames.reserveCapacity(8) }
            if message.frames.count < frameLimit {
                // zmq_msg_data points at zmq_msg_size bytes owned by `part`, valid until the next recv or close.
                let data = UnsafeRawBufferPointer(start: zmq_msg_data(&part), count: zmq_msg_size(&part))
                message.frames.append([UInt8](data))
            } else {
                message.isTruncated = true
            }
            if zmq_msg_more(&part) == 0 { return message }
        }
    }

    func check(_ result: Int32) throws {
        if result != 0 { throw ZMQError.last }
    }
}
