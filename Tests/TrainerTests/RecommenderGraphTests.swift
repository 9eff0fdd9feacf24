import Foundation
import Inference
import Testing
@testable import Trainer

/// The exported recommender graph against scores worked out by hand from a small `RecommenderModel`.
@Suite struct RecommenderGraphTests {
    /// One customer (history: item 0 bought 3 times, 10 days ago; item 1 once, 40 days ago), five items,
    /// neighbours 0 → {2: 1.0, 3: 0.5}, 1 → {2: 2.0, 0: 0.7} (item 0 was bought: its neighbour part is masked),
    /// popularity score = the first item feature.
    static let model = RecommenderModel(
        customers: [17850], items: [0, 1, 2, 3, 4], stockCodes: ["A", "B", "C", "D", "E"],
        historyLength: 2, historyItems: [0, 1, 0, 0], historyCounts: [3, 1, 0, 0],
        historyAges: [10, 40, RecommenderFeatures.paddingAge, RecommenderFeatures.paddingAge],
        itemFeatures: [0.3, 9, 9, 0.2, 9, 9, 0.1, 9, 9, 0.4, 9, 9, 0.5, 9, 9],
        historyWeights: [0.5, 1, -0.25, 0.75, 0.125], itemWeights: [1, 0, 0],
        neighbourCount: 2, neighbourItems: [2, 3, 2, 0, 2, 2, 3, 3, 4, 4], neighbourWeights: [1, 0.5, 2, 0.7, 0, 0, 0, 0, 0, 0],
        neighbourWeight: 0.8, k: 5, cutoff: Day("2011-03-01")!)

    static func expectedScores() -> [Float] {
        func history(_ count: Float, _ age: Float) -> Float {
            zip(model.historyWeights, RecommenderFeatures.history(count: count, age: age)).reduce(0) { $0 + $1.0 * $1.1 }
        }
        let recent = exp(Float(-10) / 60), older = exp(Float(-40) / 60)
        return [0.3 + history(3, 10), 0.2 + history(1, 40), 0.1 + 0.8 * log(1 + recent * 1 + older * 2),
                0.4 + 0.8 * log(1 + recent * 0.5), 0.5]
    }

    func run(_ customers: [Int64]) throws -> (items: [Int64], scores: [Float]) {
        let model = try Model(onnx: try RecommenderGraph.export(Self.model, metadata: [:]))
        let session = model.makeSession()
        try session.setInput(0, Tensor(int64: customers, shape: [customers.count]))
        let outputs = Dictionary(uniqueKeysWithValues: zip(model.outputs.map(\.name), try session.run()))
        return (try #require(outputs["item_index"]).array(of: Int64.self), try #require(outputs["score"]).array(of: Float.self))
    }

    @Test func historyNeighbourAndPopularityPartsAddUp() throws {
        let expected = Self.expectedScores()
        let (items, scores) = try run([0])
        #expect(items == (0..<5).sorted { expected[$0] > expected[$1] }.map(Int64.init))
        for (item, score) in zip(items, scores) { #expect(abs(score - expected[Int(item)]) < 1e-5) }
    }

    @Test func anUnknownCustomerGetsPopularityAlone() throws {
        let (items, scores) = try run([-1, 1])
        #expect(Array(items[0..<5]) == [4, 3, 0, 1, 2] && Array(items[5...]) == [4, 3, 0, 1, 2])
        #expect(zip(scores[0..<5], [0.5, 0.4, 0.3, 0.2, 0.1] as [Float]).allSatisfy { abs($0 - $1) < 1e-6 })
    }
}
