import Foundation

/// How requests for one model are batched: how many a worker takes at once, how long the oldest may wait for more,
/// and which batch sizes to prefer when more are queued than one batch takes.
public struct BatchingPolicy: Sendable, Equatable {
    /// 1: no batching.
    public var maxBatchSize: Int
    public var maxQueueDelay: Duration
    /// Sizes to cut batches at when the queue holds more than `maxBatchSize` allows but not an exact fit; ascending.
    public var preferredBatchSizes: [Int]
    /// With a target, the batch limit adapts (AIMD) between 1 and `maxBatchSize` to keep the p99 of batch service
    /// times (a batch handed to a worker → its result) under it.
    public var p99Target: Duration?

    public init(
        maxBatchSize: Int, maxQueueDelay: Duration = .zero, preferredBatchSizes: [Int] = [], p99Target: Duration? = nil
    ) {
        self.maxBatchSize = maxBatchSize
        self.maxQueueDelay = maxQueueDelay
        self.p99Target = p99Target
        self.preferredBatchSizes = preferredBatchSizes.filter { $0 >= 1 && $0 <= maxBatchSize }.sorted()
    }

    /// No batching: one request per worker at a time.
    public static let off = BatchingPolicy(maxBatchSize: 1)

    /// Whether queued requests may wait for others instead of going out at once.
    var waits: Bool { maxBatchSize > 1 && maxQueueDelay > .zero }

    /// How many of `available` queued requests to hand over: all up to the maximum (or `adaptiveLimit`), cut to the
    /// largest preferred size that fits when there are preferred sizes.
    func batchSize(available: Int, adaptiveLimit: Int? = nil) -> Int {
        let limit = min(available, adaptiveLimit ?? maxBatchSize, maxBatchSize)
        return preferredBatchSizes.last { $0 <= limit } ?? limit
    }

    /// Parses the `batching` object of a model's config.json:
    /// `{"max_batch_size": 32, "max_queue_delay_us": 500, "preferred_batch_sizes": [8, 16]}`.
    ///
    /// - Throws: `ModelStoreError.invalidConfiguration` describing what is wrong.
    init(configuration object: Any) throws {
        guard let fields = object as? [String: Any], let size = fields["max_batch_size"] as? Int, size >= 1 else {
            throw ModelStoreError.invalidConfiguration("batching needs max_batch_size ≥ 1")
        }
        let delay = fields["max_queue_delay_us"] as? Int ?? 0
        let preferred = fields["preferred_batch_sizes"] as? [Int] ?? []
        let target = fields["p99_target_us"] as? Int
        let known: Set<String> = ["max_batch_size", "max_queue_delay_us", "preferred_batch_sizes", "p99_target_us"]
        guard delay >= 0, preferred.allSatisfy({ $0 >= 1 && $0 <= size }), target.map({ $0 > 0 }) ?? true,
              Set(fields.keys).isSubset(of: known)
        else {
            throw ModelStoreError.invalidConfiguration(
                "batching takes max_batch_size, max_queue_delay_us ≥ 0, preferred_batch_sizes within 1...max_batch_size and p99_target_us > 0")
        }
        self.init(maxBatchSize: size, maxQueueDelay: .microseconds(delay), preferredBatchSizes: preferred,
                  p99Target: target.map { .microseconds($0) })
    }
}
