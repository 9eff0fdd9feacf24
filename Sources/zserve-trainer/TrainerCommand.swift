import ArgumentParser

/// `zserve-trainer`: learns the shop's models from its transaction log and pushes them to a running `zserve serve`.
@main
struct TrainerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "zserve-trainer",
        abstract: "Train recommender, demand and propensity models on the shop's transaction log; push better versions.",
        subcommands: [TrainCommand.self, ContinuousCommand.self, PriceCurveCommand.self, InspectCommand.self]
    )
}
