import Foundation

/// The recommender's features, computed the same way in training (here) and in the exported graph.
///
/// Per customer and item bought before: five channels of (invoice count n, days a since the last purchase):
/// log(1 + n), exp(−a/14), exp(−a/60), exp(−a/365) and 1 (bought before at all). Per item never bought: one channel,
/// log(1 + Σ_h exp(−a_h/60) · w(h, i)) over the customer's history items h and their `ItemNeighbours` weights w.
/// Per item: log(1 + sale lines) over the last 7 days, the last 30 days and all history, standardized over the items.
enum RecommenderFeatures {
    static let historyChannels = 5
    static let itemChannels = 3
    /// Decay lengths in days of the three recency channels.
    static let decays: [Float] = [14, 60, 365]
    /// The age given to padding entries: every channel is 0 there (exp underflows, count is 0, so is "bought").
    static let paddingAge: Float = 1e6

    /// Decay length in days of the recency weight a history item gives its neighbours.
    static let neighbourDecay: Float = 60

    static func history(count: Float, age: Float) -> [Float] {
        [log(1 + count)] + decays.map { exp(-age / $0) } + [1]
    }

    /// The recency weight of a history item bought `age` days ago in the neighbour score.
    static func neighbourRecency(age: Float) -> Float { exp(-age / neighbourDecay) }

    /// The never-bought channel from a summed neighbour score.
    static func neighbour(score: Float) -> Float { log(1 + score) }

    /// Raw item channels from sale-line counts.
    static func item(week: Int, month: Int, all: Int) -> [Float] {
        [log1p(Float(week)), log1p(Float(month)), log1p(Float(all))]
    }

    /// Standardizes item feature rows (item-major, `itemChannels` wide) in place: zero mean, unit deviation.
    static func standardize(_ rows: inout [Float]) {
        let width = itemChannels, count = rows.count / width
        guard count > 0 else { return }
        for channel in 0..<width {
            var sum = 0.0, squares = 0.0
            for row in 0..<count { sum += Double(rows[row * width + channel]) }
            let mean = sum / Double(count)
            for row in 0..<count { squares += pow(Double(rows[row * width + channel]) - mean, 2) }
            let deviation = max(sqrt(squares / Double(count)), 1e-6)
            for row in 0..<count { rows[row * width + channel] = Float((Double(rows[row * width + channel]) - mean) / deviation) }
        }
    }
}
