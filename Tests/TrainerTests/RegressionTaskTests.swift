import Foundation
import Inference
import Testing
@testable import Trainer

/// Demand and propensity on the committed log's first weeks: signatures, baselines, determinism per seed.
@Suite struct RegressionTaskTests {
    static func options(seed: UInt64 = 1) -> TrainingOptions {
        var options = TrainingOptions(cutoff: Day("2011-01-10")!)
        options.evalDays = 14
        options.quiet = true
        options.seed = seed
        return options
    }

    @Test func demandModelBeatsItsBaselinesAndIsDeterministic() throws {
        let first = try Training.run(.demand, log: TestData.log, options: Self.options())
        let model = try Model(onnx: first.onnx)
        #expect(model.inputs[0].name == "features" && model.inputs[0].shape?.last == DemandFeatures.width)
        #expect(model.outputs.map(\.name) == ["log1p_units", "units"])
        let rmse = first.report.rows.map { $0.values["rmse_log1p_units"]! }
        #expect(first.report.rows.map(\.name) == ["model", "global_mean", "per_item_mean"])
        #expect(rmse[0] < rmse[1] && rmse[0] < rmse[2])
        #expect(try Training.run(.demand, log: TestData.log, options: Self.options()).onnx == first.onnx)
        #expect(try Training.run(.demand, log: TestData.log, options: Self.options(seed: 2)).onnx != first.onnx)
    }

    @Test func demandFeaturesUseOnlyEarlierDays() {
        // The first day has no statistics: every line gets the same item and customer means (the default).
        let data = DemandFeatures(TestData.log, through: Day("2010-12-01")!)
        let width = DemandFeatures.width
        let itemMeans = Set(stride(from: 2, to: data.rows.count, by: width).map { data.rows[$0] })
        #expect(itemMeans.count == 1)
        #expect(data.targets.count == data.days.count && data.days.allSatisfy { $0 == Day("2010-12-01")! })
    }

    @Test func propensityReportsAUCAndLogLossAgainstRecencyFrequency() throws {
        let outcome = try Training.run(.propensity, log: TestData.log, options: Self.options())
        let model = try Model(onnx: outcome.onnx)
        #expect(model.outputs.map(\.name) == ["probability"] && model.inputs[0].shape?.last == 8)
        #expect(outcome.report.rows.map(\.name) == ["model", "recency_frequency", "base_rate"])
        let auc = outcome.report.rows.map { $0.values["auc"]! }
        #expect(auc[0] > 0.6 && auc[1] > 0.6 && auc[2] == 0.5)
        #expect(try Training.run(.propensity, log: TestData.log, options: Self.options()).onnx == outcome.onnx)
    }
}
