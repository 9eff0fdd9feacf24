import Foundation
import ServingProtocol
import ZServeClient
import ZeroMQ

/// Replays the log day by day: retrain after each trading day, compare with the version the server serves on the same
/// window, push only a better model.
///
/// The served version is scored through Predict on the frontend (`frontend`): demand and propensity models on the
/// window's feature rows; a recommender only when this trainer pushed it (it needs the version's index lists), else
/// the new model is pushed. A server that does not answer, or refuses a push, is reported and retried
/// (`retries` times, `retryDelay` apart, then again after the next day): the trainer never stops because of it.
/// Runs on the calling thread; `report` receives one line per day.
public final class ContinuousTrainer {
    public struct Options: Sendable {
        public var task: TrainingTask
        public var from: Day
        public var until: Day
        public var admin: String
        public var frontend: String
        public var model: String
        public var evalDays = 30
        public var seed: UInt64 = 1
        public var k = 10
        public var retries = 3
        public var retryDelay = 1.0
        public var timeoutMilliseconds: Int32 = 30_000
        public var quiet = true
        /// CURVE credentials for the admin endpoint (`serve --server-key --admin-keys`), and whether the frontend
        /// requires them too (`--frontend-keys`).
        public var curve: CurveClientCredentials?
        public var curveOnFrontend = false

        public init(task: TrainingTask, from: Day, until: Day, admin: String, frontend: String, model: String) {
            self.task = task
            self.from = from
            self.until = until
            self.admin = admin
            self.frontend = frontend
            self.model = model
        }
    }

    /// What happened over the run.
    public struct Summary: Sendable {
        public var days = 0
        public var pushed: [Int64] = []
        public var heldBack = 0
        public var failures = 0
        public var servedVersion: Int64 = 0

        public var json: [String: Any] {
            ["event": "summary", "days": days, "pushed": pushed, "held_back": heldBack, "failures": failures,
             "served_version": servedVersion]
        }
    }

    private let options: Options
    private let log: TransactionLog
    private var admin: Client
    private var frontend: Client
    /// Index lists of the recommender versions this trainer pushed.
    private var pushedLists: [Int64: (customers: [Int32], stockCodes: [String])] = [:]

    public init(log: TransactionLog, options: Options) throws {
        self.log = log
        self.options = options
        admin = try Client(endpoint: options.admin, timeoutMilliseconds: options.timeoutMilliseconds, curve: options.curve)
        frontend = try Client(
            endpoint: options.frontend, timeoutMilliseconds: options.timeoutMilliseconds,
            curve: options.curveOnFrontend ? options.curve : nil)
    }

    /// Runs the replay; `report` gets one line per trading day.
    public func run(report: (String) -> Void) -> Summary {
        var summary = Summary()
        var tradingDays = Set<Day>()
        for line in log.transactions where line.day >= options.from && line.day <= options.until { tradingDays.insert(line.day) }
        for day in tradingDays.sorted() {
            summary.days += 1
            var training = TrainingOptions(cutoff: day + 1)
            training.evalDays = options.evalDays
            training.seed = options.seed
            training.k = options.k
            training.quiet = options.quiet
            let outcome: TrainingOutcome
            do {
                outcome = try Training.run(options.task, log: log, options: training)
            } catch {
                summary.failures += 1
                report("\(day): training failed: \(error)")
                continue
            }
            let metric = outcome.report.primaryMetric
            let candidate = outcome.report.primaryValue
            let trained = "\(day): trained \(options.task.rawValue) (\(metric) \(Self.format(candidate)) on \(outcome.report.window))"

            let served: Int64
            switch retrying({ try servedVersion() }) {
            case .success(let version): served = version
            case .failure(let error):
                summary.failures += 1
                let reason = Self.isTransient(error) ? "server unreachable" : "model status refused"
                report("\(trained); \(reason) (\(error)); not pushed, will retry after the next day")
                continue
            }
            if served > 0 {
                summary.servedVersion = served
                switch retrying({ try score(version: served, training: training) }) {
                case .success(let value?):
                    if !outcome.report.isBetter(candidate, than: value) {
                        summary.heldBack += 1
                        report("\(trained); held back: served version \(served) scores \(Self.format(value)) on the same window")
                        continue
                    }
                    report("\(trained); served version \(served) scores \(Self.format(value)): better, pushing")
                case .success(nil):
                    report("\(trained); served version \(served) was not pushed by this trainer, its indexes are unknown: pushing")
                case .failure(let error):
                    summary.failures += 1
                    report("\(trained); could not score served version \(served) (\(error)); not pushed, will retry after the next day")
                    continue
                }
            } else {
                report("\(trained); no version served yet: pushing")
            }
            switch retrying({ try push(outcome) }) {
            case .success(let version):
                summary.pushed.append(version)
                summary.servedVersion = version
                pushedLists[version] = (outcome.customers, outcome.stockCodes)
                report("\(day): pushed version \(version)")
            case .failure(let error):
                summary.failures += 1
                report("\(day): push failed (\(error)); will retry after the next day")
            }
        }
        return summary
    }

    /// The default version the server serves, 0 when the model is unknown there.
    private func servedVersion() throws -> Int64 {
        do {
            let info = try admin.modelStatus(model: options.model)
            return info.defaultVersion
        } catch Client.Failure.status(let error) where error.code == .notFound {
            return 0
        }
    }

    /// The served version's primary metric on the training options' window; nil when it cannot be scored.
    private func score(version: Int64, training: TrainingOptions) throws -> Double? {
        let served = ServedModel(client: frontend, name: options.model, version: version)
        switch options.task {
        case .recommender:
            guard let lists = pushedLists[version] else { return nil }
            let report = try Training.evaluateRecommender(
                log: log, options: training, customers: lists.customers, stockCodes: lists.stockCodes,
                predict: served.recommend)
            return report.primaryValue
        case .demand, .propensity:
            let set = options.task == .demand ? DemandTask.evaluationSet(log: log, options: training)
                : PropensityTask.evaluationSet(log: log, options: training)
            return set.score(try served.predict(rows: set.rows, width: set.width, output: set.output))
        }
    }

    private func push(_ outcome: TrainingOutcome) throws -> Int64 {
        var metadata = outcome.report.flatMetrics.mapValues { String(format: "%.6f", $0) }
        metadata["eval_window"] = outcome.report.window
        metadata["producer"] = "zserve-trainer continuous"
        return try admin.pushModel(name: options.model, model: outcome.onnx, metadata: metadata).version
    }

    /// Runs `body` up to 1 + `retries` times, `retryDelay` seconds apart, while it fails with an error that may pass
    /// (no reply, UNAVAILABLE, RESOURCE_EXHAUSTED, a transport error); other errors are returned at once.
    private func retrying<T>(_ body: () throws -> T) -> Result<T, Error> {
        var attempt = 0
        while true {
            do {
                return .success(try body())
            } catch {
                attempt += 1
                guard attempt <= options.retries, Self.isTransient(error) else { return .failure(error) }
                Thread.sleep(forTimeInterval: options.retryDelay)
            }
        }
    }

    private static func isTransient(_ error: Error) -> Bool {
        guard let failure = error as? Client.Failure else { return true }
        switch failure {
        case .timeout: return true
        case .status(let status): return status.code == .unavailable || status.code == .resourceExhausted
        case .malformedReply: return false
        }
    }

    private static func format(_ value: Double) -> String { String(format: "%.4f", value) }
}
