/// Each item's strongest "bought lately by the same customers" neighbours: the recommender's signal for items a
/// customer has never bought.
///
/// For items i and j (i ≠ j), the co-purchase count C(i, j) is the number of customers who bought i at any time
/// before the cutoff and j in its last `recentDays` days. The weight is C(i, j) / √((n_i + s)(r_j + s)), with n_i the
/// customers who bought i, r_j those who bought j lately and s = `shrinkage`, so neither a popular i nor a popular j
/// dominates. Each item keeps its `count` heaviest neighbours (ties: lower index first), and the kept weights are
/// divided by their mean, so a customer's summed neighbour score has the same scale whatever the log's size.
/// Rows of items without neighbours are padded with the item itself at weight 0.
struct ItemNeighbours {
    static let count = 20
    static let recentDays = 30
    static let shrinkage = 5.0

    /// [items × count] neighbour item indexes and weights, row-major.
    let items: [Int64]
    let weights: [Float]
    let width: Int

    /// Neighbours over the model's item indexes (`position` maps log item ids to them; others are ignored).
    ///
    /// Works row by row (item i: its buyers' recent items counted in one reused [items] scratch row), so memory is
    /// O(items + history entries) and time O(Σ over customers of items bought × items bought lately).
    init(_ history: PurchaseHistory, position: [Int32: Int], itemCount: Int, width: Int = ItemNeighbours.count) {
        self.width = width
        // Per customer (in CustomerID order) the items bought and those bought lately; per item its buyers.
        var recentOf: [[Int]] = [], buyersOf = [[Int]](repeating: [], count: itemCount)
        var recentBuyers = [Double](repeating: 0, count: itemCount)
        for customer in history.customers.keys.sorted() {
            var recent: [Int] = []
            for (item, entry) in history.customers[customer]! {
                guard let index = position[item] else { continue }
                buyersOf[index].append(recentOf.count)
                if history.cutoff - entry.lastDay <= Self.recentDays {
                    recent.append(index)
                    recentBuyers[index] += 1
                }
            }
            recentOf.append(recent)
        }
        var items = [Int64](repeating: 0, count: itemCount * width), weights = [Float](repeating: 0, count: itemCount * width)
        var kept: [(row: Int, weight: Double)] = []
        var pairs = [Int32](repeating: 0, count: itemCount), touched: [Int] = []
        var candidates: [(index: Int, weight: Double)] = []
        for i in 0..<itemCount {
            for buyer in buyersOf[i] {
                for j in recentOf[buyer] where j != i {
                    if pairs[j] == 0 { touched.append(j) }
                    pairs[j] += 1
                }
            }
            let buyers = Double(buyersOf[i].count)
            candidates.removeAll(keepingCapacity: true)
            for j in touched {
                let weight = Double(pairs[j]) / ((buyers + Self.shrinkage) * (recentBuyers[j] + Self.shrinkage)).squareRoot()
                candidates.append((j, weight))
                pairs[j] = 0
            }
            touched.removeAll(keepingCapacity: true)
            candidates.sort { $0.weight != $1.weight ? $0.weight > $1.weight : $0.index < $1.index }
            for slot in 0..<width {
                if slot < candidates.count {
                    items[i * width + slot] = Int64(candidates[slot].index)
                    kept.append((i * width + slot, candidates[slot].weight))
                } else {
                    items[i * width + slot] = Int64(i)
                }
            }
        }
        let mean = kept.isEmpty ? 1 : kept.reduce(0) { $0 + $1.weight } / Double(kept.count)
        for entry in kept { weights[entry.row] = Float(entry.weight / mean) }
        self.items = items
        self.weights = weights
    }

    /// The summed neighbour score Σ_h recency(h) · w(h, j) of the items j reached from `history` (index, recency
    /// weight) pairs, as a dictionary over the reached items (the exported graph computes the same sum).
    func scores(from history: [(index: Int, recency: Float)]) -> [Int: Float] {
        var reached: [Int: Float] = [:]
        for (index, recency) in history {
            for slot in 0..<width {
                let weight = weights[index * width + slot]
                guard weight > 0 else { continue }
                reached[Int(items[index * width + slot]), default: 0] += recency * weight
            }
        }
        return reached
    }
}
