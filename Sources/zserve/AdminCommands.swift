import ArgumentParser
import Crypto
import Foundation
import ServingProtocol
import ZServeClient

/// `zserve push`: uploads a model file as a new version and waits until it is live.
struct PushCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "push",
        abstract: "Push FILE.onnx as a new version; prints {model, version, state, bytes, sha256} once it is live.",
        discussion: """
            With several --endpoint servers the file is pushed to each as the same version: the one given, else one
            more than the highest version any of them knows; the output is then keyed by endpoint.
            """
    )

    @OptionGroup var client: ClientOptions

    @Option(help: "Model name.")
    var model: String

    @Argument(help: "The ONNX file.")
    var file: String

    @Option(help: "Version to create (default: one more than the highest on the server, or on any of the servers).")
    var version: Int64 = 0

    @Option(help: "Label to point at the new version (repeatable).")
    var label: [String] = []

    @Option(help: "Metadata KEY=VALUE stored with the version (repeatable).")
    var metadata: [String] = []

    @Option(name: .customLong("chunk-size"), help: "Bytes per chunk.")
    var chunkSize: Int = 4 << 20

    func validate() throws {
        guard chunkSize >= 1024 else { throw ValidationError("--chunk-size must be at least 1024") }
        guard metadata.allSatisfy({ $0.contains("=") }) else { throw ValidationError("--metadata takes KEY=VALUE") }
    }

    func run() throws {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: file))
        } catch {
            throw ValidationError("cannot read \(file): \(error.localizedDescription)")
        }
        let pairs = metadata.map { entry in
            let parts = entry.split(separator: "=", maxSplits: 1)
            return (String(parts[0]), parts.count > 1 ? String(parts[1]) : "")
        }
        let version = try reportingFailures { try sharedVersion() }
        let showProgress = data.count > 16 << 20
        try client.onEveryServer { server in
            let response = try server.pushModel(
                name: model, model: data, version: version, labels: label,
                metadata: Dictionary(pairs, uniquingKeysWith: { _, last in last }), chunkSize: chunkSize
            ) { sent, total in
                if showProgress {
                    FileHandle.standardError.write(Data("\rpushed \(sent >> 20) of \(total >> 20) MiB".utf8))
                    if sent == total { FileHandle.standardError.write(Data("\n".utf8)) }
                }
            }
            return [
                "model": response.model, "version": response.version, "state": response.state.label,
                "bytes": data.count, "sha256": SHA256.hash(data: data).map { String(format: "%02x", $0) }.joined(),
            ] as [String: Any]
        }
    }

    /// The version to push as: the one asked for; with one server, 0 (the server picks); with several, one more
    /// than the highest version any of them knows, so they all serve the file under the same number.
    private func sharedVersion() throws -> Int64 {
        guard version == 0, client.endpoints.count > 1 else { return version }
        var highest: Int64 = 0
        for endpoint in client.endpoints {
            let server = try Client(endpoints: [endpoint], timeoutMilliseconds: client.timeoutMilliseconds, curve: client.curveCredentials())
            do {
                highest = max(highest, try server.modelStatus(model: model).versions.map(\.version).max() ?? 0)
            } catch Client.Failure.status(let error) where error.code == .notFound {
                continue
            }
        }
        return highest + 1
    }
}

/// `zserve label`: points a label at a version.
struct LabelCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "label", abstract: "Point a label at a version (0 removes it), with an optional traffic weight.")

    @OptionGroup var client: ClientOptions

    @Option(help: "Model name.")
    var model: String

    @Option(help: "Label name, e.g. stable or canary.")
    var label: String

    @Option(help: "Version the label points at; 0 removes the label.")
    var version: Int64

    @Option(help: "Percentage (0-100) of unpinned requests this label's version serves.")
    var weight: UInt32 = 0

    func run() throws {
        try client.onEveryServer { try $0.setLabel(model: model, label: label, version: version, weight: weight).jsonObject }
    }
}

/// `zserve rollback`: makes the previous version the default again.
struct RollbackCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rollback", abstract: "Make the previous available version the default; prints {model, from_version, to_version}.")

    @OptionGroup var client: ClientOptions

    @Option(help: "Model name.")
    var model: String

    func run() throws {
        try client.onEveryServer { server in
            let response = try server.rollback(model: model)
            return ["model": model, "from_version": response.fromVersion, "to_version": response.toVersion] as [String: Any]
        }
    }
}

/// The model version `load` and `unload` act on.
struct ModelVersionOptions: ParsableArguments {
    @Option(help: "Model name.")
    var model: String

    @Option(help: "Version.")
    var version: Int64
}

/// `zserve load`: starts serving a version that is on disk.
struct LoadCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "load", abstract: "Load a version that is on disk.")

    @OptionGroup var client: ClientOptions
    @OptionGroup var target: ModelVersionOptions

    func run() throws {
        try client.onEveryServer { try $0.loadModel(model: target.model, version: target.version).jsonObject }
    }
}

/// `zserve unload`: stops serving a version; it stays on disk.
struct UnloadCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "unload", abstract: "Stop serving a version; it stays on disk.")

    @OptionGroup var client: ClientOptions
    @OptionGroup var target: ModelVersionOptions

    func run() throws {
        try client.onEveryServer { try $0.unloadModel(model: target.model, version: target.version).jsonObject }
    }
}

/// `zserve scale`: sets the number of local inference workers.
struct ScaleCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "scale",
        abstract: "Set the local worker count; removed workers finish what they hold. Prints {previous, workers}.")

    @OptionGroup var client: ClientOptions

    @Option(help: "Worker threads wanted.")
    var workers: Int32

    func run() throws {
        try client.onEveryServer { server in
            let response = try server.scaleWorkers(to: workers)
            return ["previous": response.previous, "workers": response.workers] as [String: Any]
        }
    }
}
