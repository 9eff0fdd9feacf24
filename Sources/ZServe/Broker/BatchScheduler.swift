/// Decides when queued requests go to a free worker and how many together.
///
/// The oldest queued request leads: a batch is requests with its batch key, as many as its model's policy allows
/// (the AIMD limit when the policy has a p99 target, cut to a preferred size). It leaves at once when the policy does
/// not wait or the batch is full, else once the oldest has waited the policy's queue delay. Owned by the broker core.
struct BatchScheduler {
    /// How requests for a model are batched: its config.json, else the server's flags.
    let policyOf: (String) -> BatchingPolicy
    private var adaptiveLimits: [String: AdaptiveBatchLimit] = [:]

    init(policyOf: @escaping (String) -> BatchingPolicy) {
        self.policyOf = policyOf
    }

    /// Whether a request for `model` skips the queue when a worker is free (its policy does not wait to batch).
    func sendsAtOnce(_ model: String) -> Bool { !policyOf(model).waits }

    /// The key and size of the batch to hand a free worker at `now`, or nil when the oldest request should wait for
    /// more. `draining` sends what is queued without waiting.
    mutating func nextBatch(from queue: RequestQueue, now: UInt64, draining: Bool) -> (key: BatchKey, size: Int)? {
        guard let oldest = queue.oldest else { return nil }
        let key = oldest.batchKey
        let policy = policyOf(key.model)
        let queued = queue.queued(key)
        guard draining || !policy.waits || queued >= policy.maxBatchSize
            || now >= oldest.receivedAt &+ Self.nanoseconds(policy.maxQueueDelay)
        else { return nil }
        return (key, policy.batchSize(available: queued, adaptiveLimit: adaptiveLimit(key.model, policy)?.limit))
    }

    /// When the oldest request's queue delay runs out (nil: nothing queued; now or earlier: due).
    func batchDue(in queue: RequestQueue) -> UInt64? {
        guard let oldest = queue.oldest else { return nil }
        let policy = policyOf(oldest.batchKey.model)
        return policy.waits ? oldest.receivedAt &+ Self.nanoseconds(policy.maxQueueDelay) : oldest.receivedAt
    }

    /// Feeds a finished batch's service time (dispatch → result) to its model's AIMD controller, if it has one.
    /// Service time rather than end-to-end latency: under overload queueing would otherwise shrink batches, which
    /// lowers throughput and lengthens the queue further (the controller would spiral down).
    mutating func record(model: String, serviceNanoseconds: UInt64) {
        guard adaptiveLimits[model] != nil else { return }
        adaptiveLimits[model]!.record([serviceNanoseconds])
    }

    /// The AIMD controller of `model`'s batch limit when its policy has a p99 target (made on first use, remade when
    /// the policy changes).
    private mutating func adaptiveLimit(_ model: String, _ policy: BatchingPolicy) -> AdaptiveBatchLimit? {
        guard let target = policy.p99Target, policy.maxBatchSize > 1 else { return nil }
        let nanoseconds = Self.nanoseconds(target)
        if let existing = adaptiveLimits[model], existing.target == nanoseconds, existing.maximum == policy.maxBatchSize {
            return existing
        }
        let fresh = AdaptiveBatchLimit(targetNanoseconds: nanoseconds, maximum: policy.maxBatchSize)
        adaptiveLimits[model] = fresh
        return fresh
    }

    private static func nanoseconds(_ duration: Duration) -> UInt64 {
        UInt64(duration / .nanoseconds(1))
    }
}
