import Foundation
import Inference

/// Scores recommenders on a window of the log: the model (through any predictor) and the two baselines.
///
/// Customers evaluated: those who bought a product before the cutoff and again in the window ("seen in both
/// periods"); relevant items: the products they bought in the window.
public enum RecommenderEvaluation {
    /// What each evaluated customer bought in the window and before the cutoff.
    public struct Ground: Sendable {
        public var customers: [Int32]
        public var relevant: [Set<Int32>]
        public var before: [Set<Int32>]
    }

    static func ground(_ log: TransactionLog, history: PurchaseHistory, window: Range<Day>) -> Ground {
        let bought = PurchaseHistory.purchases(log, in: window)
        var ground = Ground(customers: [], relevant: [], before: [])
        for customer in bought.keys.sorted() {
            guard let earlier = history.customers[customer] else { continue }
            ground.customers.append(customer)
            ground.relevant.append(bought[customer]!)
            ground.before.append(Set(earlier.keys))
        }
        return ground
    }

    /// Metrics of a model given as `predict(customer indexes) -> item indexes per customer`, with its index lists.
    ///
    /// Customers missing from `customers` are asked with index −1 (the model answers with popular items).
    static func metrics(
        ground: Ground, log: TransactionLog, customers: [Int32], stockCodes: [String], k: Int,
        predict: ([Int64]) throws -> [[Int64]]
    ) throws -> RankingMetrics {
        let customerIndex = Dictionary(uniqueKeysWithValues: customers.enumerated().map { ($1, Int64($0)) })
        let logItem = Dictionary(log.stockCodes.enumerated().map { ($1, Int32($0)) }, uniquingKeysWith: { a, _ in a })
        var recommended: [[Int32]] = []
        let batch = 32
        for start in stride(from: 0, to: ground.customers.count, by: batch) {
            let slice = ground.customers[start..<min(start + batch, ground.customers.count)]
            let answers = try predict(slice.map { customerIndex[$0] ?? -1 })
            for answer in answers {
                recommended.append(answer.map { index in
                    index >= 0 && Int(index) < stockCodes.count ? logItem[stockCodes[Int(index)]] ?? -1 : -1
                })
            }
        }
        return RankingMetrics(k: k, recommended: recommended, relevant: ground.relevant, before: ground.before)
    }

    /// The baselines: recent popularity (the same list for everyone) and the customer's own history by invoice count
    /// (ties and empty slots filled by recent popularity).
    static func baselines(ground: Ground, history: PurchaseHistory, k: Int) -> [(String, RankingMetrics)] {
        let popular = history.popularItems()
        let rank = Dictionary(uniqueKeysWithValues: popular.enumerated().map { ($1, $0) })
        let top = Array(popular.prefix(k))
        let popularity = RankingMetrics(k: k, recommended: ground.customers.map { _ in top },
                                        relevant: ground.relevant, before: ground.before)
        let own = ground.customers.map { customer -> [Int32] in
            let entries = history.customers[customer] ?? [:]
            let ranked = entries.keys.sorted { a, b in
                let ca = entries[a]!.invoices, cb = entries[b]!.invoices
                return ca != cb ? ca > cb : rank[a, default: .max] < rank[b, default: .max]
            }
            var list = Array(ranked.prefix(k))
            for item in top where list.count < k && !list.contains(item) { list.append(item) }
            return list
        }
        let ownHistory = RankingMetrics(k: k, recommended: own, relevant: ground.relevant, before: ground.before)
        return [("recent_popularity", popularity), ("own_history", ownHistory)]
    }

    /// Runs an exported recommender in-process (ZServe's runtime) for `metrics`.
    static func localPredictor(_ onnx: Data) throws -> ([Int64]) throws -> [[Int64]] {
        let model = try Model(onnx: onnx)
        let session = model.makeSession()
        let outputIndex = model.outputs.firstIndex { $0.name == "item_index" } ?? 0
        return { indexes in
            try session.setInput(0, Tensor(int64: indexes, shape: [indexes.count]))
            let output = try session.run()[outputIndex]
            let k = output.shape.last ?? 0
            let values = output.array(of: Int64.self)
            return (0..<indexes.count).map { Array(values[$0 * k..<($0 + 1) * k]) }
        }
    }

    /// The report for a model and the baselines on `window`.
    static func report(model: RankingMetrics, baselines: [(String, RankingMetrics)], window: Range<Day>) -> EvaluationReport {
        let rows = [("model", model)] + baselines
        let k = model.k
        return EvaluationReport(
            task: "recommender", metricNames: ["recall@\(k)", "ndcg@\(k)", "hit_rate@\(k)", "new_item_recall@\(k)", "customers"],
            primaryMetric: "recall@\(k)", higherIsBetter: true, window: "\(window.lowerBound)..\(window.upperBound - 1)",
            rows: rows.map { name, metrics in .init(name: name, values: Dictionary(uniqueKeysWithValues: metrics.named)) })
    }
}
