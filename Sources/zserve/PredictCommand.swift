import ArgumentParser
import Foundation
import ServingProtocol
import ZServeClient

/// `zserve predict`: one prediction, printed as JSON.
struct PredictCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "predict",
        abstract: "Run one prediction and print {\"model\", \"version\", \"outputs\"} as JSON.",
        discussion: """
            --json maps input names to {"dtype": "float32", "shape": [2, 4], "data": [...]} or to a nested list
            (its dtype taken from the model). --json @FILE reads the JSON from a file, --json - from stdin.
            JSON has no NaN: write a missing float value as null (it is sent as NaN); NaN outputs print as null.
            """
    )

    @OptionGroup var client: ClientOptions

    @Option(help: "Model name.")
    var model: String

    @Option(help: "Model version (default: the newest available).")
    var version: Int64?

    @Option(help: "Version label, e.g. stable.")
    var label: String = ""

    @Option(help: "The inputs as JSON, @FILE, or - for stdin.")
    var json: String

    @Option(name: .customLong("deadline-ms"), help: "Server-side deadline in milliseconds (0: none).")
    var deadlineMilliseconds: UInt64 = 0

    func run() throws {
        try reportingFailures {
            let connection = try client.makeClient()
            let metadata = try connection.modelMetadata(name: model, version: version, label: label)
            let inputs = try JSONTensors.parseInputs(try readJSON(), specs: metadata.inputs)
            let response = try connection.predict(.with {
                $0.id = UUID().uuidString
                $0.model = .with { spec in
                    spec.name = model
                    if let version { spec.version = version }
                    spec.label = label
                }
                $0.inputs = inputs
                $0.timeoutUs = deadlineMilliseconds * 1000
            })
            var outputs: [String: Any] = [:]
            for tensor in response.outputs { outputs[tensor.name] = JSONTensors.object(for: tensor) }
            try printJSON(["model": response.model, "version": response.version, "outputs": outputs])
        }
    }

    private func readJSON() throws -> Data {
        if json == "-" { return FileHandle.standardInput.readDataToEndOfFile() }
        if json.hasPrefix("@") { return try Data(contentsOf: URL(fileURLWithPath: String(json.dropFirst()))) }
        return Data(json.utf8)
    }
}
