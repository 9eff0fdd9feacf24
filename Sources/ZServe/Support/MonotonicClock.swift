import Dispatch

/// Monotonic time in nanoseconds, comparable across threads of this process.
enum MonotonicClock {
    static var nanoseconds: UInt64 { DispatchTime.now().uptimeNanoseconds }
}
