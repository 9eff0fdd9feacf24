/// How busy the broker loop has been lately: the share of wall time spent outside its blocking wait, per window
/// of `window` nanoseconds, smoothed over windows.
///
/// Decides whether the broker thread has time to compute small work itself (`BrokerCore`'s inline compute): on an
/// idle loop it saves two thread hand-offs; on a busy one it would delay receiving and dispatching. Starts idle.
/// Not thread-safe: the loop thread records and reads it.
struct LoopLoad {
    /// Recent share of time busy, 0…1.
    private(set) var busyFraction = 0.0
    private let window: UInt64
    private var windowStart: UInt64?
    private var idle: UInt64 = 0

    init(window: UInt64 = 10_000_000) {
        self.window = window
    }

    /// The loop waited (idle) from `start` to `end` (monotonic nanoseconds).
    mutating func waited(from start: UInt64, to end: UInt64) {
        guard let windowStart else {
            self.windowStart = start
            idle = end &- start
            return
        }
        idle &+= end &- start
        let elapsed = end &- windowStart
        guard elapsed >= window else { return }
        let busy = 1 - min(1, Double(idle) / Double(elapsed))
        busyFraction = (busyFraction + busy) / 2
        self.windowStart = end
        idle = 0
    }
}
