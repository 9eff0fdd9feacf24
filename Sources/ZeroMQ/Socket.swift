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
        precondition(!frames.isEmpty, "a ZeroMQ message has at least one frame")
        let flags: Int32 = wait ? 0 : ZMQ_DONTWAIT
        for (index, frame) in frames.enumerated() {
            if !(try sendFrame(frame, flags: index < frames.count - 1 ? flags | ZMQ_SNDMORE : flags)) { return false }
        }
        return true
    }

    /// Sends `frame` as a one-frame message, after `peer` (a ROUTER's routing id for the peer) when given. Same
    /// contract as `send(_:wait:)`.
    @discardableResult
    public func send(_ frame: [UInt8], to peer: [UInt8]? = nil, wait: Bool = true) throws -> Bool {
        let flags: Int32 = wait ? 0 : ZMQ_DONTWAIT
        if let peer, !(try sendFrame(peer, flags: flags | ZMQ_SNDMORE)) { return false }
        return try sendFrame(frame, flags: flags)
    }

    /// Sends `head`'s frames then `tail`'s as one multipart message (e.g. a routing envelope then a reply), each
    /// frame straight from where it lies. Same contract as `send(_:wait:)`; `tail` must not be empty.
    @discardableResult
    public func send(_ head: PackedFrames, _ tail: [ArraySlice<UInt8>], wait: Bool = true) throws -> Bool {
        precondition(!tail.isEmpty, "the tail holds the message's last frame")
        var flags: Int32 = (wait ? 0 : ZMQ_DONTWAIT) | ZMQ_SNDMORE
        for frame in head {
            if !(try sendFrame(frame, flags: flags)) { return false }
        }
        for (index, frame) in tail.enumerated() {
            if index == tail.count - 1 { flags &= ~ZMQ_SNDMORE }
            if !(try sendFrame(frame, flags: flags)) { return false }
        }
        return true
    }

    private func sendFrame(_ frame: [UInt8], flags: Int32) throws -> Bool {
        try frame.withUnsafeBytes { try sendFrame($0, flags: flags) }
    }

    private func sendFrame(_ frame: ArraySlice<UInt8>, flags: Int32) throws -> Bool {
        try frame.withUnsafeBytes { try sendFrame($0, flags: flags) }
    }

    /// Sends one frame; false when it cannot be queued now (only possible for a message's first frame: libzmq
    /// queues all frames of a message atomically or none).
    private func sendFrame(_ frame: UnsafeRawBufferPointer, flags: Int32) throws -> Bool {
        while true {
            // zmq_send copies the bytes before it returns, so the buffer only has to live for the call.
            let result = zmq_send(handle, frame.baseAddress, frame.count, flags)
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
        var frames: [[UInt8]] = []
        var part = zmq_msg_t()
        zmq_msg_init(&part)
        defer { zmq_msg_close(&part) }
        while true {
            let flags: Int32 = (wait || !frames.isEmpty) ? 0 : ZMQ_DONTWAIT
            if zmq_msg_recv(&part, handle, flags) < 0 {
                let error = ZMQError.last
                if error.code == EINTR { continue }
                if error.code == EAGAIN && frames.isEmpty { return nil }
                throw error
            }
            // Most messages have a handful of frames: one allocation instead of growing 1, 2, 4, 8.
            if frames.isEmpty { frames.reserveCapacity(8) }
            // zmq_msg_data points at zmq_msg_size bytes owned by `part`, valid until the next recv or close.
            frames.append([UInt8](UnsafeRawBufferPointer(start: zmq_msg_data(&part), count: zmq_msg_size(&part))))
            if zmq_msg_more(&part) == 0 { return frames }
        }
    }

    /// Receives one multipart message into one buffer (`PackedFrames`), keeping at most `frameLimit` frames; the
    /// rest are read and dropped. One allocation of exactly the message's size for up to 16 frames (libzmq holds the
    /// parts until the last arrives); longer messages grow a buffer.
    ///
    /// - Parameter wait: when false, returns nil at once if no message is queued.
    /// - Returns: the frames and whether some were dropped, or nil when `wait` is false and nothing is queued, or
    ///   the receive timeout expired.
    public func receivePacked(wait: Bool = true, frameLimit: Int = .max) throws -> (frames: PackedFrames, isTruncated: Bool)? {
        let capacity = 16
        return try withUnsafeTemporaryAllocation(of: zmq_msg_t.self, capacity: capacity + 1) { parts in
            // Safe: `parts` lives for this closure and the messages never leave it. The last slot receives frames
            // past the limit; `held` counts the leading slots initialized by zmq_msg_init; each initialized slot is
            // closed exactly once (when copied into `spilled`, or by the defer below).
            let dropped = parts.baseAddress! + capacity
            zmq_msg_init(dropped)
            var held = 0
            defer {
                for index in 0..<held { zmq_msg_close(&parts[index]) }
                zmq_msg_close(dropped)
            }
            /// Frames already copied out of full `parts` (only for messages of more than `capacity` kept frames).
            var spilled: [UInt8] = []
            var kept = 0, received = 0, isTruncated = false
            func append(_ part: UnsafeMutablePointer<zmq_msg_t>, to bytes: inout [UInt8]) {
                let size = zmq_msg_size(part)
                PackedFrames.appendLength(size, to: &bytes)
                // zmq_msg_data points at zmq_msg_size bytes owned by the part, valid until it is closed.
                bytes.append(contentsOf: UnsafeRawBufferPointer(start: zmq_msg_data(part), count: size))
            }
            while true {
                let keep = kept < frameLimit
                if keep && held == capacity {
                    for index in 0..<held {
                        append(&parts[index], to: &spilled)
                        zmq_msg_close(&parts[index])
                    }
                    held = 0
                }
                let part: UnsafeMutablePointer<zmq_msg_t>
                if keep {
                    part = parts.baseAddress! + held
                    zmq_msg_init(part)
                    held += 1
                } else {
                    part = dropped
                    isTruncated = true
                }
                let flags: Int32 = (wait || received > 0) ? 0 : ZMQ_DONTWAIT
                if zmq_msg_recv(part, handle, flags) < 0 {
                    let error = ZMQError.last
                    if error.code == EINTR {
                        if keep { held -= 1; zmq_msg_close(part) }
                        continue
                    }
                    if error.code == EAGAIN && received == 0 { return nil }
                    throw error
                }
                received += 1
                if keep { kept += 1 }
                guard zmq_msg_more(part) == 0 else { continue }
                var size = spilled.count
                for index in 0..<held { size += 4 + zmq_msg_size(&parts[index]) }
                spilled.reserveCapacity(size)
                for index in 0..<held { append(&parts[index], to: &spilled) }
                return (PackedFrames(packed: spilled[...]), isTruncated)
            }
        }
    }

    func check(_ result: Int32) throws {
        if result != 0 { throw ZMQError.last }
    }
}
