import Foundation

/// Error and ranking metrics for the regression and classification tasks.
public enum RegressionMetrics {
    /// Root mean squared error.
    public static func rmse(_ predicted: [Float], _ actual: [Float]) -> Double {
        precondition(predicted.count == actual.count)
        guard !actual.isEmpty else { return .nan }
        return (zip(predicted, actual).reduce(0.0) { $0 + pow(Double($1.0) - Double($1.1), 2) } / Double(actual.count)).squareRoot()
    }

    /// Area under the ROC curve by the rank-sum statistic; ties share their average rank. NaN without both classes.
    public static func auc(scores: [Double], labels: [Bool]) -> Double {
        let order = scores.indices.sorted { scores[$0] < scores[$1] }
        var ranks = [Double](repeating: 0, count: scores.count)
        var start = 0
        while start < order.count {
            var end = start
            while end + 1 < order.count, scores[order[end + 1]] == scores[order[start]] { end += 1 }
            let average = Double(start + end) / 2 + 1
            for position in start...end { ranks[order[position]] = average }
            start = end + 1
        }
        let positives = labels.filter { $0 }.count, negatives = labels.count - positives
        guard positives > 0, negatives > 0 else { return .nan }
        let rankSum = zip(ranks, labels).reduce(0.0) { $1.1 ? $0 + $1.0 : $0 }
        return (rankSum - Double(positives) * Double(positives + 1) / 2) / (Double(positives) * Double(negatives))
    }

    /// Mean negative log-likelihood of probabilities (clipped to [1e-7, 1 − 1e-7]).
    public static func logLoss(probabilities: [Double], labels: [Bool]) -> Double {
        guard !labels.isEmpty else { return .nan }
        return zip(probabilities, labels).reduce(0.0) { total, pair in
            let p = min(max(pair.0, 1e-7), 1 - 1e-7)
            return total - (pair.1 ? log(p) : log(1 - p))
        } / Double(labels.count)
    }
}
