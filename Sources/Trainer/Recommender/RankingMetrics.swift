import Foundation

/// Top-K ranking quality over a set of customers: recall@K, NDCG@K, hit rate@K, and recall@K on items new to them.
///
/// NaN when no customer bought anything (nothing to measure), new-item recall 0 when no customer bought a new item.
///
/// Definitions (binary relevance; R = the distinct items a customer bought in the evaluation window):
/// - recall@K = |top-K ∩ R| / min(K, |R|), so a customer with few purchases can reach 1;
/// - NDCG@K = Σ over hits 1/log2(rank + 1) divided by the same sum for min(K, |R|) hits at the top;
/// - hit rate@K = share of customers with at least one hit;
/// - new-item recall@K = recall@K against R minus the items the customer bought before, over customers with such
///   items (history-only recommenders score 0 there by construction).
public struct RankingMetrics: Sendable, Equatable {
    public var k = 10
    public var recall = 0.0
    public var ndcg = 0.0
    public var hitRate = 0.0
    public var newItemRecall = 0.0
    public var customers = 0
    public var customersWithNewItems = 0

    public init() {}

    /// Averages over customers: `recommended[c]` ranked best first (at least K long, or all there is),
    /// `relevant[c]` what they bought, `before[c]` what they had bought before.
    public init(k: Int, recommended: [[Int32]], relevant: [Set<Int32>], before: [Set<Int32>]) {
        precondition(recommended.count == relevant.count && relevant.count == before.count)
        self.k = k
        var recallSum = 0.0, ndcgSum = 0.0, hits = 0, newSum = 0.0
        for (index, list) in recommended.enumerated() {
            let top = Array(list.prefix(k))
            let wanted = relevant[index]
            guard !wanted.isEmpty else { continue }
            customers += 1
            var found = 0, dcg = 0.0
            for (rank, item) in top.enumerated() where wanted.contains(item) {
                found += 1
                dcg += 1 / log2(Double(rank + 2))
            }
            let ideal = (0..<min(k, wanted.count)).reduce(0.0) { $0 + 1 / log2(Double($1 + 2)) }
            recallSum += Double(found) / Double(min(k, wanted.count))
            ndcgSum += dcg / ideal
            if found > 0 { hits += 1 }
            let new = wanted.subtracting(before[index])
            if !new.isEmpty {
                customersWithNewItems += 1
                newSum += Double(top.filter { new.contains($0) }.count) / Double(min(k, new.count))
            }
        }
        guard customers > 0 else {
            (recall, ndcg, hitRate, newItemRecall) = (.nan, .nan, .nan, .nan)
            return
        }
        recall = recallSum / Double(customers)
        ndcg = ndcgSum / Double(customers)
        hitRate = Double(hits) / Double(customers)
        newItemRecall = customersWithNewItems > 0 ? newSum / Double(customersWithNewItems) : 0
    }

    /// The metrics as (name, value) pairs in a fixed order, for tables and JSON.
    public var named: [(String, Double)] {
        [("recall@\(k)", recall), ("ndcg@\(k)", ndcg), ("hit_rate@\(k)", hitRate),
         ("new_item_recall@\(k)", newItemRecall), ("customers", Double(customers))]
    }
}
