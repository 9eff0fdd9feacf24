import CZeroMQ

extension Socket {
    /// Milliseconds to keep unsent messages after `close()`; 0 drops them, -1 waits forever.
    public var linger: Int32 {
        get { (try? intOption(ZMQ_LINGER)) ?? 0 }
        set { try? setOption(ZMQ_LINGER, newValue) }
    }

    /// Sets the largest inbound message libzmq accepts, in bytes (-1: no limit). A peer that sends a larger one is
    /// disconnected by libzmq; the message never reaches the application.
    public func setMaxMessageSize(_ bytes: Int64) throws {
        try setOption(ZMQ_MAXMSGSIZE, bytes)
    }

    /// Sets the send high-water mark (messages queued per peer before sends block or fail).
    public func setSendHighWaterMark(_ messages: Int32) throws {
        try setOption(ZMQ_SNDHWM, messages)
    }

    /// Sets the receive high-water mark.
    public func setReceiveHighWaterMark(_ messages: Int32) throws {
        try setOption(ZMQ_RCVHWM, messages)
    }

    /// Sets how long a blocking receive waits, in milliseconds (-1: forever); `receive` then returns nil.
    public func setReceiveTimeout(_ milliseconds: Int32) throws {
        try setOption(ZMQ_RCVTIMEO, milliseconds)
    }

    /// Sets how long a blocking send waits, in milliseconds (-1: forever).
    public func setSendTimeout(_ milliseconds: Int32) throws {
        try setOption(ZMQ_SNDTIMEO, milliseconds)
    }

    /// Queue messages only to completed connections: with several endpoints, a request never waits on one whose
    /// server is down (set before connect).
    public func setImmediate(_ on: Bool) throws {
        try setOption(ZMQ_IMMEDIATE, Int32(on ? 1 : 0))
    }

    /// ROUTER only: fail sends to unknown peers (`send(wait: false)` returns false) instead of dropping them silently.
    public func setRouterMandatory(_ on: Bool) throws {
        try setOption(ZMQ_ROUTER_MANDATORY, Int32(on ? 1 : 0))
    }

    /// The endpoint last bound, with the real port when `*` was asked for.
    public var lastEndpoint: String {
        var buffer = [CChar](repeating: 0, count: 1024)
        var size = buffer.count
        guard zmq_getsockopt(handle, ZMQ_LAST_ENDPOINT, &buffer, &size) == 0 else { return "" }
        let bytes = buffer.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }
        return String(decoding: bytes, as: UTF8.self)
    }

    func setOption(_ option: Int32, _ value: Int32) throws {
        var value = value
        try check(zmq_setsockopt(handle, option, &value, MemoryLayout<Int32>.size))
    }

    func setOption(_ option: Int32, _ value: Int64) throws {
        var value = value
        try check(zmq_setsockopt(handle, option, &value, MemoryLayout<Int64>.size))
    }

    func setOption(_ option: Int32, _ value: [UInt8]) throws {
        try value.withUnsafeBytes { try check(zmq_setsockopt(handle, option, $0.baseAddress, $0.count)) }
    }

    func intOption(_ option: Int32) throws -> Int32 {
        var value: Int32 = 0
        var size = MemoryLayout<Int32>.size
        try check(zmq_getsockopt(handle, option, &value, &size))
        return value
    }
}

extension Socket {
    /// REQ only: prefix each request with a request id frame and drop replies that do not carry it (the Lazy Pirate
    /// pattern's way of ignoring late replies).
    public func setRequestCorrelate(_ on: Bool) throws {
        try setOption(ZMQ_REQ_CORRELATE, Int32(on ? 1 : 0))
    }

    /// REQ only: allow a new request before the previous reply arrived.
    public func setRequestRelaxed(_ on: Bool) throws {
        try setOption(ZMQ_REQ_RELAXED, Int32(on ? 1 : 0))
    }
}
