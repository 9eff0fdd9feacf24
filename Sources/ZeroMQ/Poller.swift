import CZeroMQ

#if canImport(Glibc)
import Glibc
#endif

/// Waits until any of a fixed set of sockets has a message to read.
///
/// Holds its sockets strongly; like them, it belongs to one thread.
public final class Poller {
    private let sockets: [Socket]
    private var items: [zmq_pollitem_t]
    /// A timer descriptor polled beside the sockets for waits finer than zmq_poll's milliseconds; -1 until first
    /// needed (or when the system has none: waits are then rounded up to whole milliseconds).
    private var timer: Int32 = -1
    /// `items` with the timer last, once the timer exists.
    private var timedItems: [zmq_pollitem_t] = []

    /// Which of a poller's sockets are readable, in the order the poller was given them (a bit set for the first
    /// 64 sockets: polling that many allocates nothing).
    public struct Readable: RandomAccessCollection, Equatable, Sendable {
        let bits: UInt64
        /// The sockets after the first 64, for pollers over more.
        let rest: [Bool]
        public let count: Int
        public var startIndex: Int { 0 }
        public var endIndex: Int { count }
        public subscript(position: Int) -> Bool {
            precondition(position >= 0 && position < count, "socket index out of range")
            return position < 64 ? bits & (1 << UInt64(position)) != 0 : rest[position - 64]
        }

        init(_ items: UnsafeBufferPointer<zmq_pollitem_t>) {
            var bits: UInt64 = 0
            for index in 0..<Swift.min(64, items.count) where items[index].revents & Int16(ZMQ_POLLIN) != 0 {
                bits |= 1 << UInt64(index)
            }
            self.bits = bits
            rest = items.count > 64 ? items[64...].map { $0.revents & Int16(ZMQ_POLLIN) != 0 } : []
            count = items.count
        }
    }

    /// Creates a poller over `sockets`, watched for incoming messages; result indexes follow this order.
    public init(_ sockets: [Socket]) {
        self.sockets = sockets
        self.items = sockets.map { zmq_pollitem_t(socket: $0.handle, fd: 0, events: Int16(ZMQ_POLLIN), revents: 0) }
    }

    deinit {
        if timer >= 0 { close(timer) }
    }

    /// Blocks up to `timeoutMilliseconds` (-1: forever) and returns which sockets are readable.
    ///
    /// - Throws: `ZMQError` (`isContextTerminated` once the context shuts down).
    public func poll(timeoutMilliseconds: Int) throws -> Readable {
        try Self.wait(&items, timeoutMilliseconds: timeoutMilliseconds)
        return items.withUnsafeBufferPointer { Readable($0) }
    }

    /// Blocks up to `timeoutNanoseconds` and returns which sockets are readable. Waits under 10 ms that are not
    /// whole milliseconds run on a timer descriptor, so a 50 µs batch delay is 50 µs and not zmq_poll's rounded-up
    /// millisecond; longer ones are rounded up to milliseconds.
    ///
    /// - Throws: `ZMQError` (`isContextTerminated` once the context shuts down).
    public func poll(timeoutNanoseconds: UInt64) throws -> Readable {
        let millisecond: UInt64 = 1_000_000
        guard timeoutNanoseconds > 0, timeoutNanoseconds < 10 * millisecond, timeoutNanoseconds % millisecond != 0,
              arm(timeoutNanoseconds)
        else {
            let rounded = timeoutNanoseconds / millisecond + (timeoutNanoseconds % millisecond == 0 ? 0 : 1)
            return try poll(timeoutMilliseconds: Int(min(rounded, UInt64(Int32.max))))
        }
        defer { disarm() }
        // The sockets and, last, the timer, which ends the wait when it fires.
        try Self.wait(&timedItems, timeoutMilliseconds: -1)
        return timedItems.withUnsafeBufferPointer { Readable(UnsafeBufferPointer(rebasing: $0.dropLast())) }
    }

    private static func wait(_ items: inout [zmq_pollitem_t], timeoutMilliseconds: Int) throws {
        while true {
            let result = items.withUnsafeMutableBufferPointer {
                zmq_poll($0.baseAddress, Int32($0.count), timeoutMilliseconds)
            }
            if result >= 0 { return }
            let error = ZMQError.last
            if error.code == EINTR { continue }
            throw error
        }
    }

    /// Sets the timer to fire once after `nanoseconds`; false when no timer descriptor can be made.
    private func arm(_ nanoseconds: UInt64) -> Bool {
        if timer < 0 {
            timer = timerfd_create(CLOCK_MONOTONIC, Int32(TFD_NONBLOCK | TFD_CLOEXEC))
            if timer < 0 { return false }
            timedItems = items + [zmq_pollitem_t(socket: nil, fd: timer, events: Int16(ZMQ_POLLIN), revents: 0)]
        }
        var setting = itimerspec()
        setting.it_value.tv_sec = Int(nanoseconds / 1_000_000_000)
        setting.it_value.tv_nsec = Int(nanoseconds % 1_000_000_000)
        return timerfd_settime(timer, 0, &setting, nil) == 0
    }

    /// Stops the timer and clears a pending expiry, so the next wait starts clean.
    private func disarm() {
        var off = itimerspec()
        _ = timerfd_settime(timer, 0, &off, nil)
        var expirations: UInt64 = 0
        _ = read(timer, &expirations, MemoryLayout<UInt64>.size)
    }
}
