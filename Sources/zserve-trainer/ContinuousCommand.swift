import ArgumentParser
import Foundation
import Trainer
import ZeroMQ

/// `zserve-trainer continuous`: the separate trainer process — replay days, retrain, push better versions.
struct ContinuousCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "continuous",
        abstract: "Replay the log day by day; after each day retrain, compare with the served version, push if better.",
        discussion: """
            One line per trading day on stdout (trained / pushed version N / held back, and why), then one JSON summary \
            line. A server that is down or refuses a push is reported and retried; the trainer keeps going.
            """)

    @OptionGroup var common: CommonOptions

    @Option(help: "First day to replay (YYYY-MM-DD): the first model is trained on the days before it and it.")
    var from: String

    @Option(help: "Last day to replay (YYYY-MM-DD).")
    var until: String

    @Option(help: "The server's admin endpoint (pushes, model status), e.g. tcp://127.0.0.1:7071.")
    var push: String

    @Option(help: "The server's frontend endpoint (scores the served version through Predict).")
    var endpoint: String

    @Option(help: "The model name on the server.")
    var model: String

    @Option(help: "Retries of a call the server did not answer, per day.")
    var retries = 3

    @Option(help: "Seconds between retries.")
    var retryDelay = 1.0

    @Option(help: "Milliseconds to wait for each reply.")
    var timeoutMs: Int32 = 30_000

    @Option(name: .customLong("server-public-key"), help: "The server's public key file (CURVE on the admin endpoint).")
    var serverPublicKey: String?

    @Option(name: .customLong("client-key"), help: "The trainer's secret key file (zserve keygen); its .pub is in the server's --admin-keys.")
    var clientKey: String?

    @Flag(name: .customLong("curve-frontend"), help: "Use the same keys on the frontend (the server has --frontend-keys).")
    var curveFrontend = false

    func run() throws {
        guard let first = Day(from), let last = Day(until), first <= last else {
            throw ValidationError("--from and --until must be dates YYYY-MM-DD with --from ≤ --until")
        }
        let training = try common.options(cutoff: from)
        let log = try TrainerRun.loadLog(common.data, through: last + training.evalDays)
        var options = ContinuousTrainer.Options(task: common.trainingTask, from: first, until: last, admin: push,
                                                frontend: endpoint, model: model)
        options.evalDays = training.evalDays
        options.seed = training.seed
        options.k = training.k
        options.retries = max(0, retries)
        options.retryDelay = max(0, retryDelay)
        options.timeoutMilliseconds = timeoutMs
        if let serverPublicKey, let clientKey {
            do {
                options.curve = try CurveClientCredentials(serverPublicKeyFile: serverPublicKey, clientKeyFile: clientKey)
            } catch {
                throw ValidationError("\(error)")
            }
            options.curveOnFrontend = curveFrontend
        } else if serverPublicKey != nil || clientKey != nil || curveFrontend {
            throw ValidationError("--server-public-key and --client-key go together (and --curve-frontend needs them)")
        }
        options.quiet = common.quiet
        let trainer = try ContinuousTrainer(log: log, options: options)
        // Unbuffered writes: each day's line reaches a pipe as soon as it is known.
        let summary = trainer.run { line in FileHandle.standardOutput.write(Data((line + "\n").utf8)) }
        FileHandle.standardOutput.write(Data((TrainerRun.json(summary.json) + "\n").utf8))
    }
}
