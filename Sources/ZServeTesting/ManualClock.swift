import Synchronization
import ZServe

/// A clock that moves only when told to, for driving time-dependent logic (batch delays, deadlines, heartbeats,
/// autoscaling) in tests without sleeping — the role `NIOEmbeddedEventLoop`'s `advanceTime` plays in swift-nio.
///
/// Thread-safe.
public final class ManualClock: NanosecondClock {
    private let current: Mutex<UInt64>

    /// Starts at `start` nanoseconds (far from zero, so differences never wrap).
    public init(start: UInt64 = 1_000_000_000_000) {
        current = Mutex(start)
    }

    public func now() -> UInt64 { current.withLock { $0 } }

    /// Moves the clock forward by `duration`.
    public func advance(by duration: Duration) {
        current.withLock { $0 += UInt64(duration / .nanoseconds(1)) }
    }
}
