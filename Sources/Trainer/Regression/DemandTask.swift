import Foundation
import Inference

/// Demand: log(1 + units) of an order line from order-time features; an MLP trained with MSE and Adam.
///
/// Served signature: input `features` float [N, 19] (`DemandFeatures.names`), outputs `log1p_units` and `units`
/// (e^x − 1) float [N, 1]. Baselines: the training mean, and each item's training mean (the global mean for new items).
enum DemandTask {
    static func run(log: TransactionLog, options: TrainingOptions) throws -> TrainingOutcome {
        let start = Date()
        let data = DemandFeatures(log, through: options.window.upperBound - 1)
        let width = DemandFeatures.width
        let split = data.days.firstIndex { $0 >= options.cutoff } ?? data.days.count
        let end = data.days.firstIndex { $0 >= options.window.upperBound } ?? data.days.count
        guard split > 0 else { throw TrainingError.noData("no demand rows before \(options.cutoff)") }
        var network = MLP(sizes: [width, 32, 16, 1], seed: options.seed)
        var schedule = MLP.Schedule()
        schedule.epochs = 8
        schedule.batchSize = 256
        schedule.learningRate = 2e-3
        var progress = Progress("demand: epoch", total: schedule.epochs)
        progress.quiet = options.quiet
        network.fit(x: Array(data.rows[0..<split * width]), y: Array(data.targets[0..<split]), loss: .squaredError,
                    schedule: schedule, seed: options.seed, progress: progress)
        let trainingSeconds = Date().timeIntervalSince(start)

        let evalRows = Array(data.rows[split * width..<end * width]), actual = Array(data.targets[split..<end])
        let plain = try export(network, metadata: [:])
        let predicted = try predictLocally(plain, rows: evalRows, width: width)
        let trainTargets = data.targets[0..<split]
        let globalMean = Float(trainTargets.reduce(0.0) { $0 + Double($1) } / Double(split))
        var itemSums: [Int32: (Double, Double)] = [:]
        for row in 0..<split { itemSums[data.items[row], default: (0, 0)].0 += Double(data.targets[row]); itemSums[data.items[row]]!.1 += 1 }
        let perItem = (split..<end).map { row in itemSums[data.items[row]].map { Float($0.0 / $0.1) } ?? globalMean }
        let report = report(model: predicted, actual: actual, globalMean: globalMean, perItem: perItem, window: options.window)
        let onnx = try export(network, metadata: Training.metadata(report, options: options))
        return TrainingOutcome(onnx: onnx, report: report, trainingSeconds: trainingSeconds)
    }

    /// The window's rows and a scorer of predictions (RMSE of log1p units), to score any demand model on it.
    static func evaluationSet(log: TransactionLog, options: TrainingOptions) -> EvaluationSet {
        let data = DemandFeatures(log, through: options.window.upperBound - 1)
        let split = data.days.firstIndex { $0 >= options.cutoff } ?? data.days.count
        let end = data.days.firstIndex { $0 >= options.window.upperBound } ?? data.days.count
        let actual = Array(data.targets[split..<end])
        return EvaluationSet(rows: Array(data.rows[split * DemandFeatures.width..<end * DemandFeatures.width]),
                             width: DemandFeatures.width, output: "log1p_units") { RegressionMetrics.rmse($0, actual) }
    }

    static func report(model: [Float], actual: [Float], globalMean: Float, perItem: [Float], window: Range<Day>) -> EvaluationReport {
        let rows: [(String, [Float])] = [("model", model), ("global_mean", [Float](repeating: globalMean, count: actual.count)),
                                         ("per_item_mean", perItem)]
        return EvaluationReport(
            task: "demand", metricNames: ["rmse_log1p_units", "order_lines"], primaryMetric: "rmse_log1p_units",
            higherIsBetter: false, window: "\(window.lowerBound)..\(window.upperBound - 1)",
            rows: rows.map { .init(name: $0.0, values: ["rmse_log1p_units": RegressionMetrics.rmse($0.1, actual),
                                                        "order_lines": Double(actual.count)]) })
    }

    static func export(_ network: MLP, metadata: [String: String]) throws -> Data {
        try MLPGraph.export(
            network, name: "demand", doc: "Expected units of an order line (log1p scale) from order-time features.",
            featureNames: DemandFeatures.names,
            outputs: [("log1p_units", "log(1 + expected units)"), ("units", "expected units, e^log1p_units - 1")],
            head: { graph, raw in
                let one = graph.constant("one", floats: [1], shape: [])
                return [raw, graph.node("Sub", [graph.node("Exp", [raw]), one])]
            },
            metadata: metadata.merging(["task": "demand"]) { a, _ in a })
    }

    /// Runs an exported single-input model on rows with ZServe's runtime; returns its first output, flattened.
    static func predictLocally(_ onnx: Data, rows: [Float], width: Int) throws -> [Float] {
        let model = try Model(onnx: onnx)
        let session = model.makeSession()
        var out: [Float] = []
        let batch = 4096
        let count = rows.count / width
        for start in stride(from: 0, to: count, by: batch) {
            let n = min(batch, count - start)
            try session.setInput(0, Tensor(float32: Array(rows[start * width..<(start + n) * width]), shape: [n, width]))
            out += try session.run()[0].array(of: Float.self)
        }
        return out
    }
}
