import ArgumentParser
import Foundation
import ServingProtocol
import ZServeClient

/// `zserve models`: every model with its versions and their states.
struct ModelsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "models",
        abstract: "List models as JSON: [{name, default_version, versions: [{version, state, error?}], labels: [{name, version, weight}]}]."
    )

    @OptionGroup var client: ClientOptions

    func run() throws {
        try reportingFailures {
            try printJSON(try client.makeClient().listModels().models.map(\.jsonObject))
        }
    }
}

/// `zserve metadata`: a model version's inputs and outputs.
struct MetadataCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "metadata",
        abstract: "Print a model's inputs and outputs (name, dtype, shape; -1 for any size) as JSON."
    )

    @OptionGroup var client: ClientOptions

    @Option(help: "Model name.")
    var model: String

    @Option(help: "Model version (default: the newest available).")
    var version: Int64?

    func run() throws {
        try reportingFailures {
            let response = try client.makeClient().modelMetadata(name: model, version: version)
            func specs(_ list: [Zserve_V1_TensorSpec]) -> [[String: Any]] {
                list.map { ["name": $0.name, "dtype": JSONTensors.name(of: $0.dtype), "shape": $0.shape] }
            }
            try printJSON([
                "name": response.name, "version": response.version, "available_versions": response.availableVersions,
                "inputs": specs(response.inputs), "outputs": specs(response.outputs),
            ])
        }
    }
}
