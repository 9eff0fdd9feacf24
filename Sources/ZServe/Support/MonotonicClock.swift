import Dispatch

/// Monotonic time in nanoseconds, comparable across threads of this process.
enum MonotonicClock {
    static var nanoseconds: UInt64 { DispatchTime.now().uptimeNanoseconds }

    /// The moment `duration` after `start` (default: now) on this clock; a negative duration counts as 0, and a
    /// moment past UInt64's range is UInt64.max.
    static func nanoseconds(after duration: Duration, from start: UInt64 = nanoseconds) -> UInt64 {
        let (seconds, attoseconds) = duration.components
        guard seconds >= 0, attoseconds >= 0 else { return start }
        let (whole, overflow) = UInt64(seconds).multipliedReportingOverflow(by: 1_000_000_000)
        let (length, late) = whole.addingReportingOverflow(UInt64(attoseconds / 1_000_000_000))
        let (moment, past) = start.addingReportingOverflow(length)
        return overflow || late || past ? .max : moment
    }
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
