import Foundation

/// Propensity: the probability that a customer buys anything in the next `evalDays` days, from their history.
///
/// Features (the example model's eight, from orders before the feature day): recency_days, frequency,
/// monetary_total, mean_basket_value, distinct_products, tenure_days, cancelled_share, is_uk. Trained on the features
/// at cutoff − horizon with labels from [cutoff − horizon, cutoff); evaluated on the features at the cutoff with labels
/// from the window. Baseline: logistic regression on log recency and log frequency, trained on the same rows.
/// Served signature: `features` float [N, 8] → `probability` float [N, 1].
enum PropensityTask {
    static let names = ["recency_days", "frequency", "monetary_total", "mean_basket_value", "distinct_products",
                        "tenure_days", "cancelled_share", "is_uk"]

    /// Customers with a purchase before `day`, their features at `day` and whether they buy in [day, day + horizon).
    static func dataset(_ log: TransactionLog, at day: Day, horizon: Int) -> (customers: [Int32], rows: [Float], labels: [Bool]) {
        struct History {
            var purchases = Set<Int32>(), cancellations = Set<Int32>(), products = Set<Int32>()
            var net = 0.0, spend = 0.0, first = Day(number: .max), last = Day(number: .min), country: Int16 = -1
        }
        var histories: [Int32: History] = [:]
        for index in 0..<log.firstIndex(onOrAfter: day) {
            let line = log.transactions[index]
            guard line.hasCustomer else { continue }
            var history = histories[line.customer, default: History()]
            let amount = Double(line.quantity) * line.unitPrice
            history.net += amount
            if line.isCancellation {
                history.cancellations.insert(line.invoice)
            } else {
                history.purchases.insert(line.invoice)
                history.products.insert(line.item)
                history.spend += amount
                history.first = min(history.first, line.day)
                if line.day >= history.last { history.last = line.day; history.country = line.country }
            }
            histories[line.customer] = history
        }
        var buyers = Set<Int32>()
        for index in log.firstIndex(onOrAfter: day)..<log.firstIndex(onOrAfter: day + horizon) {
            let line = log.transactions[index]
            if line.hasCustomer, !line.isCancellation { buyers.insert(line.customer) }
        }
        let uk = log.countries.firstIndex(of: "United Kingdom").map(Int16.init) ?? -1
        var result: (customers: [Int32], rows: [Float], labels: [Bool]) = ([], [], [])
        for customer in histories.keys.sorted() {
            let h = histories[customer]!
            guard !h.purchases.isEmpty else { continue }
            let frequency = Double(h.purchases.count)
            result.customers.append(customer)
            result.rows += [Float(day - h.last), Float(frequency), Float(h.net), Float(h.spend / frequency),
                            Float(h.products.count), Float(day - h.first),
                            Float(Double(h.cancellations.count) / (frequency + Double(h.cancellations.count))),
                            h.country == uk ? 1 : 0]
            result.labels.append(buyers.contains(customer))
        }
        return result
    }

    static func run(log: TransactionLog, options: TrainingOptions) throws -> TrainingOutcome {
        let start = Date()
        let horizon = options.evalDays
        let train = dataset(log, at: options.cutoff - horizon, horizon: horizon)
        let test = dataset(log, at: options.cutoff, horizon: horizon)
        guard train.labels.contains(true), train.labels.contains(false) else {
            throw TrainingError.noData("propensity needs buyers and non-buyers in the \(horizon) days before \(options.cutoff)")
        }
        var network = MLP(sizes: [names.count, 16, 8, 1], seed: options.seed)
        var schedule = MLP.Schedule()
        schedule.epochs = 60
        schedule.batchSize = 64
        schedule.learningRate = 1e-3
        schedule.weightDecay = 1e-4
        var progress = Progress("propensity: epoch", total: schedule.epochs)
        progress.quiet = options.quiet
        let targets = train.labels.map { $0 ? Float(1) : 0 }
        network.fit(x: train.rows, y: targets, loss: .logistic, schedule: schedule, seed: options.seed, progress: progress)
        let trainingSeconds = Date().timeIntervalSince(start)

        // Baseline: logistic regression on log(1 + recency), log(1 + frequency).
        func recencyFrequency(_ rows: [Float]) -> [Float] {
            stride(from: 0, to: rows.count, by: names.count).flatMap { [log1p(rows[$0]), log1p(rows[$0 + 1])] }
        }
        var baseline = MLP(sizes: [2, 1], seed: options.seed)
        var baselineSchedule = schedule
        baselineSchedule.weightDecay = 0
        var quietProgress = Progress("propensity baseline", total: schedule.epochs)
        quietProgress.quiet = true
        baseline.fit(x: recencyFrequency(train.rows), y: targets, loss: .logistic, schedule: baselineSchedule,
                     seed: options.seed, progress: quietProgress)

        let plain = try export(network, metadata: [:])
        let model = try DemandTask.predictLocally(plain, rows: test.rows, width: names.count).map(Double.init)
        let base = baseline.predict(recencyFrequency(test.rows)).map { 1 / (1 + exp(-Double($0))) }
        let report = report(model: model, baseline: base, labels: test.labels, window: options.window)
        let onnx = try export(network, metadata: Training.metadata(report, options: options))
        return TrainingOutcome(onnx: onnx, report: report, trainingSeconds: trainingSeconds)
    }

    /// The window's customers' rows and a scorer of predictions (AUC), to score any propensity model on it.
    static func evaluationSet(log: TransactionLog, options: TrainingOptions) -> EvaluationSet {
        let test = dataset(log, at: options.cutoff, horizon: options.evalDays)
        return EvaluationSet(rows: test.rows, width: names.count, output: "probability") { predictions in
            RegressionMetrics.auc(scores: predictions.map(Double.init), labels: test.labels)
        }
    }

    static func report(model: [Double], baseline: [Double], labels: [Bool], window: Range<Day>) -> EvaluationReport {
        let share = Double(labels.filter { $0 }.count) / Double(max(labels.count, 1))
        let rows: [(String, [Double])] = [("model", model), ("recency_frequency", baseline),
                                          ("base_rate", [Double](repeating: share, count: labels.count))]
        return EvaluationReport(
            task: "propensity", metricNames: ["auc", "log_loss", "customers"], primaryMetric: "auc", higherIsBetter: true,
            window: "\(window.lowerBound)..\(window.upperBound - 1)",
            rows: rows.map { name, scores in
                .init(name: name, values: ["auc": RegressionMetrics.auc(scores: scores, labels: labels),
                                           "log_loss": RegressionMetrics.logLoss(probabilities: scores, labels: labels),
                                           "customers": Double(labels.count)])
            })
    }

    static func export(_ network: MLP, metadata: [String: String]) throws -> Data {
        try MLPGraph.export(
            network, name: "purchase_propensity",
            doc: "Probability that a customer buys anything in the next days, from raw features of their history.",
            featureNames: names, outputs: [("probability", "probability of a purchase in the horizon")],
            head: { graph, raw in [graph.node("Sigmoid", [raw])] },
            metadata: metadata.merging(["task": "propensity"]) { a, _ in a })
    }
}
