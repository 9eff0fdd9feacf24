import Foundation
import Testing
@testable import Trainer

/// `ItemNeighbours` on a hand-made log whose co-purchase counts and weights are worked out below.
@Suite struct ItemNeighboursTests {
    /// Cutoff 2011-03-01; "lately" = on or after 2011-01-30 (30 days before).
    /// Customer 1: A old, B lately. Customer 2: A old, B and C lately. Customer 3: C old, D lately.
    /// Buyers n: A 2, B 2, C 2, D 1; lately r: B 2, C 1, D 1.
    /// Pairs (bought i ever, j lately, i ≠ j): A→B 2, A→C 1, B→C 1, C→B 1, C→D 1.
    /// Weights c / √((n_i + 5)(r_j + 5)): A→B 2/7, A→C 1/√42, B→C 1/√42, C→B 1/7, C→D 1/√42; mean 0.178296.
    static let log: TransactionLog = {
        let lines = [
            "1,10001,A,1,2011-01-01 10:00:00,1.0,1,United Kingdom",
            "2,10001,A,1,2011-01-05 10:00:00,1.0,2,United Kingdom",
            "3,10003,C,1,2011-01-10 10:00:00,1.0,3,United Kingdom",
            "4,10002,B,1,2011-02-20 10:00:00,1.0,1,United Kingdom",
            "5,10002,B,1,2011-02-25 10:00:00,1.0,2,United Kingdom",
            "5,10003,C,1,2011-02-25 10:00:00,1.0,2,United Kingdom",
            "6,10004,D,1,2011-02-27 10:00:00,1.0,3,United Kingdom",
        ]
        let text = TransactionLog.columns.joined(separator: ",") + "\n" + lines.joined(separator: "\n") + "\n"
        do { return try TransactionLog.parse(text) } catch { fatalError("\(error)") }
    }()

    static func neighbours(width: Int) -> ItemNeighbours {
        let history = PurchaseHistory(log, before: Day("2011-03-01")!)
        let position = Dictionary(uniqueKeysWithValues: ["10001", "10002", "10003", "10004"].enumerated().map { index, code in
            (Int32(log.stockCodes.firstIndex(of: code)!), index)
        })
        return ItemNeighbours(history, position: position, itemCount: 4, width: width)
    }

    @Test func weightsAndOrderAsWorkedOutByHand() {
        let neighbours = Self.neighbours(width: 2)
        let third: Double = 1 / 42.0.squareRoot(), seventh: Double = 1.0 / 7
        let mean: Double = (2 * seventh + 3 * third + seventh) / 5
        let s: Double = third / mean
        // A: B then C; B: C then padding (itself, weight 0); C: D (1/√42) before B (1/7); D: nothing bought lately with it.
        #expect(neighbours.items == [1, 2, 2, 1, 3, 1, 3, 3])
        let expected: [Double] = [2 * seventh / mean, s, s, 0, s, seventh / mean, 0, 0]
        for (got, want) in zip(neighbours.weights, expected) { #expect(abs(Double(got) - want) < 1e-5) }
    }

    @Test func onlyTheHeaviestAreKept() {
        let neighbours = Self.neighbours(width: 1)
        #expect(neighbours.items == [1, 2, 3, 3])
        #expect(neighbours.weights[3] == 0 && neighbours.weights[0] > neighbours.weights[1])
    }

    @Test func scoresSumRecencyTimesWeightOverTheHistory() {
        let neighbours = Self.neighbours(width: 2)
        let scores = neighbours.scores(from: [(0, 0.5), (2, 1)])
        let w = neighbours.weights
        #expect(Set(scores.keys) == [1, 2, 3])
        #expect(abs(scores[1]! - (0.5 * w[0] + w[5])) < 1e-6)
        #expect(abs(scores[2]! - 0.5 * w[1]) < 1e-6 && abs(scores[3]! - w[4]) < 1e-6)
    }
}
