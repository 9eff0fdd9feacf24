import Foundation
import Inference
import Testing
@testable import Trainer

/// The recommender on the committed log's first weeks: served signature, unknown customers, determinism, baselines.
@Suite struct RecommenderTests {
    static let options: TrainingOptions = {
        var options = TrainingOptions(cutoff: Day("2011-01-10")!)
        options.evalDays = 14
        options.quiet = true
        return options
    }()
    static let outcome: TrainingOutcome = {
        do { return try Training.run(.recommender, log: TestData.log, options: options) } catch { fatalError("\(error)") }
    }()

    func run(_ onnx: Data, _ customers: [Int64]) throws -> (items: [Int64], scores: [Float], k: Int) {
        let model = try Model(onnx: onnx)
        let session = model.makeSession()
        try session.setInput(0, Tensor(int64: customers, shape: [customers.count]))
        let outputs = try session.run()
        let byName = Dictionary(uniqueKeysWithValues: zip(model.outputs.map(\.name), outputs))
        let items = try #require(byName["item_index"]), scores = try #require(byName["score"])
        #expect(items.shape == [customers.count, 10] && scores.shape == [customers.count, 10])
        return (items.array(of: Int64.self), scores.array(of: Float.self), 10)
    }

    @Test func servedSignatureAndMetadata() throws {
        let model = try Model(onnx: Self.outcome.onnx)
        #expect(model.inputs.map(\.name) == ["customer_index"] && model.inputs[0].elementType == .int64)
        #expect(model.outputs.map(\.name) == ["item_index", "score"])
        let customers = try JSONDecoder().decode([Int].self, from: Data(try #require(model.metadata["customers"]).utf8))
        let items = try JSONDecoder().decode([String].self, from: Data(try #require(model.metadata["items"]).utf8))
        #expect(customers == Self.outcome.customers.map(Int.init) && customers == customers.sorted())
        #expect(items == Self.outcome.stockCodes && items.count > 1000)
        #expect(model.metadata["metric.model.recall@10"] != nil && model.metadata["metric.own_history.recall@10"] != nil)
        #expect(model.metadata["trained_until"] == "2011-01-10")
    }

    @Test func scoresAreSortedAndCustomersDiffer() throws {
        let (items, scores, k) = try run(Self.outcome.onnx, [0, 1, 2])
        for row in 0..<3 {
            let slice = scores[row * k..<(row + 1) * k]
            #expect(zip(slice, slice.dropFirst()).allSatisfy { $0 >= $1 })
            #expect(Set(items[row * k..<(row + 1) * k]).count == k)
        }
        #expect(items[0..<k] != items[k..<2 * k] || items[k..<2 * k] != items[2 * k..<3 * k])
    }

    @Test func outOfRangeCustomersGetPopularItems() throws {
        let count = Int64(Self.outcome.customers.count)
        let (items, scores, k) = try run(Self.outcome.onnx, [-1, count, count + 1_000_000, Int64.max, 0])
        for row in 1..<4 {
            #expect(Array(items[row * k..<(row + 1) * k]) == Array(items[0..<k]))
            #expect(Array(scores[row * k..<(row + 1) * k]) == Array(scores[0..<k]))
        }
        // The popular answer leads with items bought in the last weeks before the cutoff.
        let history = PurchaseHistory(TestData.log, before: Self.options.cutoff)
        let recent = Set(history.popularItems().prefix(50).map { TestData.log.stockCodes[Int($0)] })
        let answered = items[0..<k].map { Self.outcome.stockCodes[Int($0)] }
        #expect(answered.filter(recent.contains).count >= k / 2)
    }

    @Test func evaluatedAgainstBothBaselines() {
        let report = Self.outcome.report
        #expect(report.rows.map(\.name) == ["model", "recent_popularity", "own_history"])
        let recall = report.rows.map { $0.values["recall@10"] ?? -1 }
        #expect(recall.allSatisfy { (0...1).contains($0) })
        #expect(report.rows.allSatisfy { $0.values["customers"] == report.rows[0].values["customers"] })
        #expect((report.rows[0].values["customers"] ?? 0) > 100)
        // History-only ranking cannot find an item the customer never bought, except through the popular fill.
        #expect(report.rows[2].values["new_item_recall@10"]! < report.rows[1].values["new_item_recall@10"]!)
    }

    @Test func tooLittleHistoryIsAnErrorNotAModel() {
        var early = TrainingOptions(cutoff: Day("2010-12-02")!)
        early.quiet = true
        #expect(throws: TrainingError.self) { try Training.run(.recommender, log: TestData.log, options: early) }
    }

    @Test func anEmptyWindowHasNoMetricsRatherThanZeros() {
        let metrics = RankingMetrics(k: 10, recommended: [], relevant: [], before: [])
        #expect(metrics.customers == 0 && metrics.recall.isNaN && metrics.ndcg.isNaN && metrics.hitRate.isNaN)
        let report = RecommenderEvaluation.report(model: metrics, baselines: [], window: Day("2012-01-01")!..<Day("2012-01-31")!)
        #expect(report.flatMetrics["model.recall@10"] == nil && report.table().contains("n/a"))
    }

    @Test func trainingIsDeterministic() throws {
        let again = try Training.run(.recommender, log: TestData.log, options: Self.options)
        #expect(again.onnx == Self.outcome.onnx)
    }
}
