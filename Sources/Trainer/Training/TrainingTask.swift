import Foundation

/// The models the trainer learns.
public enum TrainingTask: String, CaseIterable, Sendable {
    case recommender, demand, propensity
}

/// What a training run needs besides the log.
public struct TrainingOptions: Sendable {
    /// Train on every day before this one; evaluate from it.
    public var cutoff: Day
    /// Length of the evaluation window in days.
    public var evalDays = 30
    public var seed: UInt64 = 1
    /// Top-K length of the recommender's answer.
    public var k = 10
    /// No progress lines on stderr.
    public var quiet = false

    public init(cutoff: Day) { self.cutoff = cutoff }

    /// The evaluation window [cutoff, cutoff + evalDays).
    public var window: Range<Day> { cutoff..<(cutoff + evalDays) }
}

/// A trained, evaluated and exported model.
public struct TrainingOutcome: Sendable {
    /// The ONNX file's bytes (metrics in metadata_props).
    public var onnx: Data
    public var report: EvaluationReport
    /// Wall-clock seconds of feature building and training (not evaluation).
    public var trainingSeconds: Double
    /// The recommender's index lists (CustomerIDs, stock codes), needed to score it through Predict later.
    public var customers: [Int32] = []
    public var stockCodes: [String] = []
}

/// Trains one task on a log and evaluates it with its baselines on the window after the cutoff.
public enum Training {
    public static func run(_ task: TrainingTask, log: TransactionLog, options: TrainingOptions) throws -> TrainingOutcome {
        switch task {
        case .recommender: try recommender(log: log, options: options)
        case .demand: try DemandTask.run(log: log, options: options)
        case .propensity: try PropensityTask.run(log: log, options: options)
        }
    }

    static func recommender(log: TransactionLog, options: TrainingOptions) throws -> TrainingOutcome {
        let start = Date()
        var trainer = RecommenderTrainer()
        trainer.k = options.k
        trainer.quiet = options.quiet
        trainer.validationDays = min(30, max(7, options.evalDays))
        let model = try trainer.train(log, until: options.cutoff)
        let trainingSeconds = Date().timeIntervalSince(start)
        let plain = try RecommenderGraph.export(model, metadata: [:])
        let report = try evaluateRecommender(
            log: log, options: options, customers: model.customers, stockCodes: model.stockCodes,
            predict: RecommenderEvaluation.localPredictor(plain))
        let onnx = try RecommenderGraph.export(model, metadata: metadata(report, options: options))
        return TrainingOutcome(onnx: onnx, report: report, trainingSeconds: trainingSeconds,
                               customers: model.customers, stockCodes: model.stockCodes)
    }

    /// Scores a recommender given by its index lists and a predictor (local or a server's) on the options' window.
    public static func evaluateRecommender(
        log: TransactionLog, options: TrainingOptions, customers: [Int32], stockCodes: [String],
        predict: ([Int64]) throws -> [[Int64]]
    ) throws -> EvaluationReport {
        let history = PurchaseHistory(log, before: options.cutoff)
        let ground = RecommenderEvaluation.ground(log, history: history, window: options.window)
        let metrics = try RecommenderEvaluation.metrics(
            ground: ground, log: log, customers: customers, stockCodes: stockCodes, k: options.k, predict: predict)
        return RecommenderEvaluation.report(
            model: metrics, baselines: RecommenderEvaluation.baselines(ground: ground, history: history, k: options.k),
            window: options.window)
    }

    /// The metadata_props every exported model carries: the metrics (`metric.<row>.<name>`), window and seed.
    static func metadata(_ report: EvaluationReport, options: TrainingOptions) -> [String: String] {
        var entries = ["trained_until": options.cutoff.description, "eval_window": report.window,
                       "seed": String(options.seed), "primary_metric": report.primaryMetric,
                       "producer": "zserve-trainer",
                       "dataset": "UCI Online Retail (Daqing Chen, Sai Liang Sain, Kun Guo, 2012), CC BY 4.0"]
        for (key, value) in report.flatMetrics { entries["metric.\(key)"] = String(format: "%.6f", value) }
        return entries
    }
}
