/// Autoscaling of local workers between bounds from queue depth, once per heartbeat interval: one worker more after
/// two intervals with more requests queued than workers, one fewer after five intervals with nothing queued and two
/// workers idle (the asymmetry is the hysteresis: grow fast, shrink slowly).
struct Autoscaler {
    let bounds: ClosedRange<Int>
    private var busyTicks = 0
    private var quietTicks = 0
    private var lastTick: UInt64?

    init(bounds: ClosedRange<Int>) {
        self.bounds = bounds
    }

    /// The new local worker target at `now`, or nil to keep `target`.
    mutating func decide(now: UInt64, queued: Int, localWorkers: Int, idleWorkers: Int, target: Int) -> Int? {
        if let lastTick, now &- lastTick < Heartbeat.intervalNanoseconds { return nil }
        lastTick = now
        if queued > max(1, localWorkers) {
            busyTicks += 1
            quietTicks = 0
        } else if queued == 0 && idleWorkers >= 2 {
            quietTicks += 1
            busyTicks = 0
        } else {
            (busyTicks, quietTicks) = (0, 0)
        }
        if busyTicks >= 2 && target < bounds.upperBound {
            busyTicks = 0
            return target + 1
        }
        if quietTicks >= 5 && target > bounds.lowerBound {
            quietTicks = 0
            return target - 1
        }
        return nil
    }
}
