import ArgumentParser
import Foundation
import Trainer

/// `zserve-trainer train`: one task, trained before a day, evaluated after it, written as ONNX.
struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train a model on the days before --train-until, evaluate it on the days after, write ONNX.",
        discussion: "Prints a table (model vs baselines), then one JSON line with every metric as the last line of stdout.")

    @OptionGroup var common: CommonOptions

    @Option(help: "Train on every day before this one (YYYY-MM-DD); evaluate from it.")
    var trainUntil: String

    @Option(help: "The ONNX file to write.")
    var out: String

    func run() throws {
        let options = try common.options(cutoff: trainUntil)
        let log = try TrainerRun.loadLog(common.data, through: options.window.upperBound - 1)
        let outcome = try TrainerRun.train(common.task, log: log, options: options)
        try outcome.onnx.write(to: URL(fileURLWithPath: out), options: .atomic)
        if !outcome.report.primaryValue.isFinite {
            FileHandle.standardError.write(Data("note: nothing to evaluate in \(outcome.report.window) (no orders there): metrics are n/a\n".utf8))
        }
        print(outcome.report.table())
        var summary = outcome.report.jsonObject()
        summary["training_seconds"] = (outcome.trainingSeconds * 100).rounded() / 100
        summary["out"] = out
        summary["bytes"] = outcome.onnx.count
        summary["trained_until"] = options.cutoff.description
        summary["seed"] = options.seed
        print(TrainerRun.json(summary))
    }
}

/// Options every training subcommand shares.
struct CommonOptions: ParsableArguments {
    @Option(help: "The transaction log: an .xz or CSV file, or a directory of day files.")
    var data = "Data/online-retail/online-retail.csv.xz"

    @Option(help: "recommender, demand or propensity.")
    var task: String

    @Option(help: "Days in the evaluation window after the cutoff.")
    var evalDays = 30

    @Option(help: "Seed of the random initialization and batch order (same seed, same model).")
    var seed: UInt64 = 1

    @Option(help: "Recommendations per customer (recommender).")
    var k = 10

    @Flag(help: "No progress lines on stderr.")
    var quiet = false

    func options(cutoff text: String) throws -> TrainingOptions {
        guard let cutoff = Day(text) else { throw ValidationError("'\(text)' is not a date YYYY-MM-DD") }
        guard TrainingTask(rawValue: task) != nil else {
            throw ValidationError("--task must be one of \(TrainingTask.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        guard evalDays > 0 else { throw ValidationError("--eval-days must be positive") }
        guard k > 0 else { throw ValidationError("--k must be positive") }
        var options = TrainingOptions(cutoff: cutoff)
        options.evalDays = evalDays
        options.seed = seed
        options.k = k
        options.quiet = quiet
        return options
    }

    var trainingTask: TrainingTask { TrainingTask(rawValue: task)! }
}
