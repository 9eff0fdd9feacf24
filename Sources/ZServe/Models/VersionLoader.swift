import Foundation
import Inference
import Logging

/// Loads model versions from the repository: parse, operator check, memory plan, then one warm-up run, so a version
/// is only published once it has computed a result.
public struct VersionLoader: Sendable {
    public let repository: ModelRepository
    let logger: Logger

    public init(repository: ModelRepository, logger: Logger) {
        self.repository = repository
        self.logger = logger
    }

    /// Loads and warms one version.
    ///
    /// - Throws: `InferenceError` from loading, or the warm-up's failure.
    public func load(name: String, version: Int64) throws -> Servable {
        let model = try Model(contentsOf: repository.modelFile(name, version))
        try Self.warmUp(model)
        return Servable(name: name, version: version, model: model)
    }

    /// Runs `model` once on zeros, dimensions of any size taken as 1.
    static func warmUp(_ model: Model) throws {
        let session = model.makeSession()
        for (position, spec) in model.inputs.enumerated() {
            let shape = (spec.shape ?? []).map { $0 ?? 1 }
            let buffer = session.inputBuffer(position, shape: shape)
            buffer.storage.pointer.initializeMemory(as: UInt8.self, repeating: 0, count: buffer.byteCount)
        }
        _ = try session.run()
    }

    /// At start-up: for each model in the repository, publishes its newest version that loads, recording every
    /// version that fails on the way. A model with no loadable version is reported and the rest still serve.
    public func loadNewestVersions(into registry: ModelRegistry) throws {
        for (name, versions) in try repository.scan().sorted(by: { $0.key < $1.key }) {
            for version in versions.reversed() {
                registry.markLoading(name: name, version: version)
                do {
                    let servable = try load(name: name, version: version)
                    registry.publish(servable)
                    logger.info("loaded model", metadata: [
                        "model": "\(name)", "version": "\(version)",
                        "weights_bytes": "\(servable.model.weightBytes)",
                    ])
                    break
                } catch {
                    registry.markFailed(name: name, version: version, error: "\(error)")
                    logger.error("model version failed to load", metadata: [
                        "model": "\(name)", "version": "\(version)", "error": "\(error)",
                    ])
                }
            }
        }
    }
}
