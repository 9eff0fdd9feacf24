import Foundation

/// Learns the recommender's blend of history, item neighbours and popularity with a listwise softmax objective, and
/// builds the model.
///
/// The score of item i for customer u is θ·g_i + Σ_c w_c φ_c(u, i) + v ψ(u, i): g are item popularity channels, φ the
/// customer's history channels with item i (0 when never bought), ψ the neighbour channel of an item never bought
/// (0 for items bought before; `ItemNeighbours`). The weights maximize the log-likelihood of the items each customer
/// bought in the `validationDays` before the cutoff under a softmax over all items, given the history before those
/// days: full-batch Adam, no randomness, so training is deterministic. The softmax normalizer is computed in
/// O(reached items) per customer (Σ_i e^{b_i} once, corrected for the items in the customer's history and those its
/// history's neighbours reach).
public struct RecommenderTrainer {
    public var k = 10
    public var historyLength = 64
    public var iterations = 300
    public var learningRate = 0.05
    public var validationDays = 30
    public var quiet = false

    public init() {}

    /// Trains on the log before `cutoff` and returns the model over everything before it.
    public func train(_ log: TransactionLog, until cutoff: Day) throws -> RecommenderModel {
        let split = cutoff - validationDays
        let earlier = PurchaseHistory(log, before: split)
        let labels = PurchaseHistory.purchases(log, in: split..<cutoff)
        guard let weights = fit(history: earlier, labels: labels) else {
            throw TrainingError.noData("the recommender learns from customers who ordered before \(split) and again in "
                                       + "\(split)..\(cutoff - 1); there are none")
        }
        return build(PurchaseHistory(log, before: cutoff), log: log, weights: weights)
    }

    /// The learned blend: weights of the item channels, of the history channels and of the neighbour channel.
    struct Weights {
        var item: [Float]
        var history: [Float]
        var neighbour: Float
    }

    /// The weights that fit `labels` given `history`; nil without any example.
    func fit(history: PurchaseHistory, labels: [Int32: Set<Int32>]) -> Weights? {
        let items = history.popularity.keys.sorted()
        let position = Dictionary(uniqueKeysWithValues: items.enumerated().map { ($1, $0) })
        var features = [Float]()
        for item in items {
            let p = history.popularity[item]!
            features += RecommenderFeatures.item(week: p.week, month: p.month, all: p.all)
        }
        RecommenderFeatures.standardize(&features)
        let gWidth = RecommenderFeatures.itemChannels, hWidth = RecommenderFeatures.historyChannels + 1
        let neighbours = ItemNeighbours(history, position: position, itemCount: items.count)

        // Training customers: history before the split and purchases of known items after it. Per customer, every
        // item whose score differs from its popularity part ("reached": bought before, or a neighbour of one) with
        // its channels (history channels and 0 for bought items; zeros and the neighbour channel for the others).
        // Flat tables (one row per reached item or positive) keep the loop below cheap: bought items with every
        // channel, neighbour-only items with just the neighbour channel (the others are 0 there).
        var reached = Table(width: hWidth), reachedByNeighbours = Table(width: 1), positives = Table(width: hWidth)
        var exampleCount = 0
        for customer in labels.keys.sorted() {
            guard let bought = history.customers[customer] else { continue }
            let wanted = labels[customer]!.compactMap { position[$0] }.sorted()
            guard !wanted.isEmpty else { continue }
            var channelOf: [Int: [Double]] = [:]
            var recency: [(index: Int, recency: Float)] = []
            for (item, entry) in bought.sorted(by: { $0.key < $1.key }) {
                guard let index = position[item] else { continue }
                let age = Float(history.cutoff - entry.lastDay)
                let channels = RecommenderFeatures.history(count: Float(entry.invoices), age: age).map(Double.init) + [0]
                reached.append(index, channels)
                channelOf[index] = channels
                recency.append((index, RecommenderFeatures.neighbourRecency(age: age)))
            }
            for (index, score) in neighbours.scores(from: recency).sorted(by: { $0.key < $1.key }) where channelOf[index] == nil {
                var channels = [Double](repeating: 0, count: hWidth)
                channels[hWidth - 1] = Double(RecommenderFeatures.neighbour(score: score))
                reachedByNeighbours.append(index, [channels[hWidth - 1]])
                channelOf[index] = channels
            }
            for index in wanted { positives.append(index, channelOf[index] ?? [Double](repeating: 0, count: hWidth)) }
            reached.endGroup()
            reachedByNeighbours.endGroup()
            positives.endGroup()
            exampleCount += 1
        }
        var theta = [Double](repeating: 0, count: gWidth), weights = [Double](repeating: 0, count: hWidth)
        guard exampleCount > 0 else { return nil }
        let totalPositives = Double(positives.items.count)
        var optimizer = Adam(count: gWidth + hWidth, learningRate: learningRate)
        var progress = Progress("recommender: iteration", total: iterations)
        progress.quiet = quiet
        let g = features.map(Double.init)
        for iteration in 1...iterations {
            // Item part, shifted by its maximum for stability.
            var bias = [Double](repeating: 0, count: items.count)
            for i in 0..<items.count { for c in 0..<gWidth { bias[i] += theta[c] * g[i * gWidth + c] } }
            let shift = bias.max() ?? 0
            let e = bias.map { exp($0 - shift) }
            var sumE = 0.0, sumEG = [Double](repeating: 0, count: gWidth)
            for i in 0..<items.count {
                sumE += e[i]
                for c in 0..<gWidth { sumEG[c] += e[i] * g[i * gWidth + c] }
            }
            var loss = 0.0
            var gradTheta = [Double](repeating: 0, count: gWidth), gradW = [Double](repeating: 0, count: hWidth)
            var zG = [Double](repeating: 0, count: gWidth), zPhi = [Double](repeating: 0, count: hWidth)
            for example in 0..<exampleCount {
                let wantedRange = positives.range(example)
                let n = Double(wantedRange.count)
                var z = sumE
                for c in 0..<gWidth { zG[c] = sumEG[c] }
                for c in 0..<hWidth { zPhi[c] = 0 }
                for row in reached.range(example) {
                    let item = reached.items[row], base = row * hWidth
                    var h = 0.0
                    for c in 0..<hWidth { h += weights[c] * reached.channels[base + c] }
                    let boosted = e[item] * exp(h), change = boosted - e[item]
                    z += change
                    for c in 0..<gWidth { zG[c] += change * g[item * gWidth + c] }
                    for c in 0..<hWidth { zPhi[c] += boosted * reached.channels[base + c] }
                }
                let neighbourWeight = weights[hWidth - 1]
                for row in reachedByNeighbours.range(example) {
                    let item = reachedByNeighbours.items[row], value = reachedByNeighbours.channels[row]
                    let boosted = e[item] * exp(neighbourWeight * value), change = boosted - e[item]
                    z += change
                    for c in 0..<gWidth { zG[c] += change * g[item * gWidth + c] }
                    zPhi[hWidth - 1] += boosted * value
                }
                loss += n * (log(z) + shift)
                for row in wantedRange {
                    let item = positives.items[row], base = row * hWidth
                    var h = 0.0
                    for c in 0..<hWidth { h += weights[c] * positives.channels[base + c] }
                    loss -= bias[item] + h
                    for c in 0..<gWidth { gradTheta[c] -= g[item * gWidth + c] }
                    for c in 0..<hWidth { gradW[c] -= positives.channels[base + c] }
                }
                for c in 0..<gWidth { gradTheta[c] += n * zG[c] / z }
                for c in 0..<hWidth { gradW[c] += n * zPhi[c] / z }
            }
            var parameters = theta + weights
            optimizer.step(&parameters, gradient: (gradTheta + gradW).map { $0 / totalPositives })
            theta = Array(parameters[0..<gWidth])
            weights = Array(parameters[gWidth...])
            if iteration % 50 == 0 || iteration == iterations {
                progress.report(step: iteration, loss: loss / totalPositives, examples: Int(totalPositives) * iteration)
            }
        }
        return Weights(item: theta.map(Float.init), history: weights.dropLast().map(Float.init), neighbour: Float(weights.last!))
    }

    /// The exported model's tables: every customer and product before the cutoff, each customer's strongest
    /// `historyLength` items by learned history score, each item's neighbours.
    func build(_ history: PurchaseHistory, log: TransactionLog, weights: Weights) -> RecommenderModel {
        let historyWeights = weights.history
        let items = history.popularity.keys.sorted { log.stockCodes[Int($0)] < log.stockCodes[Int($1)] }
        let position = Dictionary(uniqueKeysWithValues: items.enumerated().map { ($1, $0) })
        var features = [Float]()
        for item in items {
            let p = history.popularity[item]!
            features += RecommenderFeatures.item(week: p.week, month: p.month, all: p.all)
        }
        RecommenderFeatures.standardize(&features)
        let customers = history.customers.keys.sorted()
        let length = max(1, min(historyLength, customers.map { history.customers[$0]!.count }.max() ?? 1))
        var historyItems = [Int64](repeating: 0, count: (customers.count + 1) * length)
        var counts = [Float](repeating: 0, count: historyItems.count)
        var ages = [Float](repeating: RecommenderFeatures.paddingAge, count: historyItems.count)
        for (row, customer) in customers.enumerated() {
            let scored = history.customers[customer]!.map { item, entry -> (Int, Float, Float, Float) in
                let count = Float(entry.invoices), age = Float(history.cutoff - entry.lastDay)
                let score = zip(historyWeights, RecommenderFeatures.history(count: count, age: age)).reduce(0) { $0 + $1.0 * $1.1 }
                return (position[item]!, count, age, score)
            }.sorted { $0.3 != $1.3 ? $0.3 > $1.3 : $0.0 < $1.0 }
            for (slot, entry) in scored.prefix(length).enumerated() {
                historyItems[row * length + slot] = Int64(entry.0)
                counts[row * length + slot] = entry.1
                ages[row * length + slot] = entry.2
            }
        }
        let neighbours = ItemNeighbours(history, position: position, itemCount: items.count)
        return RecommenderModel(
            customers: customers, items: items, stockCodes: items.map { log.stockCodes[Int($0)] },
            historyLength: length, historyItems: historyItems, historyCounts: counts, historyAges: ages,
            itemFeatures: features, historyWeights: historyWeights, itemWeights: weights.item,
            neighbourCount: neighbours.width, neighbourItems: neighbours.items, neighbourWeights: neighbours.weights,
            neighbourWeight: weights.neighbour, k: min(k, items.count), cutoff: history.cutoff)
    }

    /// Rows of (item index, channels) grouped by training customer, stored flat.
    private struct Table {
        let width: Int
        var items: [Int] = []
        var channels: [Double] = []
        /// Where each customer's rows end.
        var ends: [Int] = []

        init(width: Int) { self.width = width }

        mutating func append(_ item: Int, _ values: [Double]) {
            items.append(item)
            channels += values
        }

        mutating func endGroup() { ends.append(items.count) }

        func range(_ group: Int) -> Range<Int> { (group == 0 ? 0 : ends[group - 1])..<ends[group] }
    }
}
