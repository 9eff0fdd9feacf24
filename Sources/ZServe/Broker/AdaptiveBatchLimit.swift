/// Clipper-style AIMD control of one model's batch limit: while the p99 of recent batch service times stays under the
/// target the limit grows by one per batch; when it goes over, the limit shrinks by a quarter.
///
/// The broker feeds it service times (batch handed to a worker → its result), not queueing. Owned by the broker
/// thread.
struct AdaptiveBatchLimit {
    let target: UInt64
    let maximum: Int
    private(set) var limit: Int
    /// The most recent service times, in nanoseconds (a ring of `windowSize`).
    private var window: [UInt64] = []
    private var next = 0
    static let windowSize = 128

    /// Starts at a limit of 1 under `target` nanoseconds, growing at most to `maximum`.
    init(targetNanoseconds target: UInt64, maximum: Int) {
        self.target = target
        self.maximum = max(1, maximum)
        self.limit = 1
    }

    /// Records the service times of finished batches and adjusts the limit.
    mutating func record(_ latencies: [UInt64]) {
        for latency in latencies {
            if window.count < Self.windowSize {
                window.append(latency)
            } else {
                window[next] = latency
                next = (next + 1) % Self.windowSize
            }
        }
        if percentile99 > target {
            limit = max(1, limit * 3 / 4)
        } else {
            limit = min(maximum, limit + 1)
        }
    }

    /// The 99th percentile of the window (0 when empty).
    var percentile99: UInt64 {
        guard !window.isEmpty else { return 0 }
        let sorted = window.sorted()
        return sorted[min(sorted.count - 1, sorted.count * 99 / 100)]
    }
}
