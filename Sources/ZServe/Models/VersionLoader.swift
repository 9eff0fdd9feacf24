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

    /// Loads one version and warms it up.
    ///
    /// - Throws: `InferenceError` when the file does not load. A warm-up failure does not throw: inputs made up
    ///   from the declared shapes may not suit the model (a Reshape that needs a particular batch size, say), so it
    ///   is logged and the version still serves.
    public func load(name: String, version: Int64) throws -> Servable {
        let model = try Model(contentsOf: repository.modelFile(name, version))
        do {
            try Self.warmUp(model)
        } catch {
            logger.warning("warm-up on generated inputs failed; serving anyway", metadata: [
                "model": "\(name)", "version": "\(version)", "error": "\(error)",
            ])
        }
        return Servable(name: name, version: version, model: model)
    }

    /// Runs `model` once on inputs of ones (zeros could divide by zero), dimensions of any size taken as 1, so the
    /// first request does not pay for first-touch allocations.
    static func warmUp(_ model: Model) throws {
        let session = model.makeSession(memoryLimit: 1 << 30)
        for (position, spec) in model.inputs.enumerated() {
            let shape = (spec.shape ?? []).map { $0 ?? 1 }
            try shape.validateShape()
            let bytes = Array(repeatElement(one(spec.elementType), count: shape.elementCount).joined())
            try bytes.withUnsafeBytes {
                try session.setInput(position, elementType: spec.elementType, shape: shape, copying: $0)
            }
        }
        _ = try session.run()
    }

    /// The little-endian bytes of the value 1 in `elementType`.
    static func one(_ elementType: ElementType) -> [UInt8] {
        switch elementType {
        case .float32: withUnsafeBytes(of: Float(1).bitPattern.littleEndian, Array.init)
        case .float64: withUnsafeBytes(of: Double(1).bitPattern.littleEndian, Array.init)
        case .float16: [0x00, 0x3c]
        default: [1] + [UInt8](repeating: 0, count: elementType.byteSize - 1)
        }
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
