import Foundation

/// A trained recommender: the learned weights and the customer history and item features they score, as exported.
///
/// Index spaces: customer index c ∈ 0..<customers.count (row `customers.count` of the history tables is the empty row
/// unknown customers read), item index i ∈ 0..<items.count. `items` holds log item ids (`TransactionLog.stockCodes`).
public struct RecommenderModel: Sendable {
    /// CustomerIDs in index order.
    public var customers: [Int32]
    /// Log item ids in index order.
    public var items: [Int32]
    /// Stock codes in index order.
    public var stockCodes: [String]
    /// History entries per customer (padding: item 0, count 0, age `RecommenderFeatures.paddingAge`).
    public var historyLength: Int
    /// [(customers + 1) × historyLength] item indexes, invoice counts and ages in days.
    public var historyItems: [Int64]
    public var historyCounts: [Float]
    public var historyAges: [Float]
    /// [items × itemChannels], standardized.
    public var itemFeatures: [Float]
    /// Learned weights of the history channels and the item channels.
    public var historyWeights: [Float]
    public var itemWeights: [Float]
    /// Neighbours kept per item (`ItemNeighbours`), and the [items × neighbourCount] neighbour indexes and weights.
    public var neighbourCount: Int
    public var neighbourItems: [Int64]
    public var neighbourWeights: [Float]
    /// Learned weight of the neighbour channel (items the customer never bought).
    public var neighbourWeight: Float
    /// Top-K length of the served answer.
    public var k: Int
    /// The day the history ends (exclusive).
    public var cutoff: Day
}
