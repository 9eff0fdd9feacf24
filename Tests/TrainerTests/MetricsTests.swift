import Foundation
import Testing
@testable import Trainer

/// The evaluation metrics against examples worked out by hand.
@Suite struct MetricsTests {
    @Test func rankingMetricsByHand() {
        // Customer A bought {1, 2, 3}: top-3 [1, 9, 3] hits ranks 1 and 3; A had bought 1 before, so new = {2, 3}.
        // Customer B bought {5}: top-3 [6, 7, 8] misses; B had bought nothing, new = {5}.
        let metrics = RankingMetrics(k: 3, recommended: [[1, 9, 3, 4], [6, 7, 8]], relevant: [[1, 2, 3], [5]],
                                     before: [[1], []])
        #expect(metrics.customers == 2)
        #expect(abs(metrics.recall - (2.0 / 3 + 0) / 2) < 1e-12)
        let dcgA = 1.0 + 1 / log2(4.0), idealA = 1.0 + 1 / log2(3.0) + 1 / log2(4.0)
        #expect(abs(metrics.ndcg - (dcgA / idealA) / 2) < 1e-12)
        #expect(metrics.hitRate == 0.5)
        // New items: A finds 3 of {2, 3} (1 / min(3, 2)), B finds none.
        #expect(metrics.customersWithNewItems == 2)
        #expect(abs(metrics.newItemRecall - 0.25) < 1e-12)
    }

    @Test func recallDividesByTheSmallerOfKAndBought() {
        // 12 bought, K = 10, 5 hits: 5 / 10, not 5 / 12.
        let bought = Set<Int32>(0..<12)
        let metrics = RankingMetrics(k: 10, recommended: [[0, 1, 2, 3, 4, 20, 21, 22, 23, 24]], relevant: [bought], before: [[]])
        #expect(metrics.recall == 0.5)
    }

    @Test func customersWithoutPurchasesAreNotCounted() {
        let metrics = RankingMetrics(k: 2, recommended: [[1, 2], [1, 2]], relevant: [[1], []], before: [[], []])
        #expect(metrics.customers == 1 && metrics.recall == 1)
    }

    @Test func aucByHand() {
        // Positives 0.9, 0.4; negatives 0.5, 0.1: pairs ranked right 3 of 4.
        #expect(RegressionMetrics.auc(scores: [0.9, 0.5, 0.4, 0.1], labels: [true, false, true, false]) == 0.75)
        // A tie between a positive and a negative counts one half.
        #expect(RegressionMetrics.auc(scores: [0.5, 0.5], labels: [true, false]) == 0.5)
        #expect(RegressionMetrics.auc(scores: [0.1, 0.2], labels: [true, true]).isNaN)
    }

    @Test func rmseAndLogLossByHand() {
        #expect(RegressionMetrics.rmse([1, 2, 3], [1, 2, 5]) == (4.0 / 3).squareRoot())
        let loss = RegressionMetrics.logLoss(probabilities: [0.8, 0.25], labels: [true, false])
        #expect(abs(loss - -(log(0.8) + log(0.75)) / 2) < 1e-12)
    }
}
