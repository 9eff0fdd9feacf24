import ArgumentParser

/// `zserve`: the model server and its command-line tools.
@main
struct ZServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "zserve",
        abstract: "A model server: protobuf prediction requests over ZeroMQ, ONNX models on OpenBLAS.",
        subcommands: [
            ServeCommand.self, PredictCommand.self, ModelsCommand.self, MetadataCommand.self, PushCommand.self,
            LabelCommand.self, RollbackCommand.self, LoadCommand.self, UnloadCommand.self, ScaleCommand.self, PerfCommand.self, BenchCommand.self, EchoCommand.self,
            WorkerCommand.self, TopCommand.self, KeygenCommand.self,
        ]
    )
}
