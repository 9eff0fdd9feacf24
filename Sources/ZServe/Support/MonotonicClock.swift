import Dispatch

/// Monotonic time in nanoseconds, comparable across threads of this process.
enum MonotonicClock {
    static var nanoseconds: UInt64 { DispatchTime.now().uptimeNanoseconds }
}

/// Where the broker core reads the time: monotonic nanoseconds. The server uses `SystemNanosecondClock`; tests
/// advance a manual clock by hand, so batching delays, deadlines, heartbeats and autoscaling run without sleeping.
public protocol NanosecondClock: Sendable {
    func now() -> UInt64
}

/// The process's monotonic clock (`MonotonicClock`).
public struct SystemNanosecondClock: NanosecondClock {
    public init() {}

    public func now() -> UInt64 { MonotonicClock.nanoseconds }
}
