import Foundation

/// A model's `<repo>/<model>/config.json`, parsed once per change: which versions to serve, how to batch, and
/// whether versions found on disk must pass the warm-up on generated inputs.
///
/// `{"version_policy": {"latest": N} | {"all": true} | {"specific": [..]},
///   "batching": {"max_batch_size": 32, "max_queue_delay_us": 500, "preferred_batch_sizes": [8, 16], "p99_target_us": T},
///   "warmup": "required" | "tolerated"}`
public struct ModelConfig: Sendable, Equatable {
    /// Whether a version found on disk that fails the warm-up on inputs generated from its declared shapes is refused.
    public enum WarmupRequirement: String, Sendable {
        /// Refused (FAILED with the reason).
        case required
        /// Served anyway, the failure logged: for models whose generated inputs cannot suit them (a Reshape that needs
        /// a particular batch size, say).
        case tolerated
    }

    public var versionPolicy: VersionPolicy = .latest(1)
    /// Nil: the server's batching flags apply.
    public var batching: BatchingPolicy?
    /// Nil: required for versions arriving while serving, tolerated for those present at start. Pushes carrying
    /// warm-up inputs must always pass on them.
    public var warmup: WarmupRequirement?

    /// The configuration of a model without config.json.
    public static let `default` = ModelConfig()

    public init(versionPolicy: VersionPolicy = .latest(1), batching: BatchingPolicy? = nil, warmup: WarmupRequirement? = nil) {
        self.versionPolicy = versionPolicy
        self.batching = batching
        self.warmup = warmup
    }

    /// Parses config.json's bytes.
    ///
    /// - Throws: `ModelStoreError.invalidConfiguration` naming what is wrong.
    public init(json data: Data) throws {
        guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw ModelStoreError.invalidConfiguration("config.json is not a JSON object")
        }
        let unknown = Set(object.keys).subtracting(["version_policy", "batching", "warmup"])
        guard unknown.isEmpty else {
            throw ModelStoreError.invalidConfiguration("config.json has unknown keys: \(unknown.sorted().joined(separator: ", "))")
        }
        versionPolicy = try object["version_policy"].map(VersionPolicy.init(configuration:)) ?? .latest(1)
        batching = try object["batching"].map { try BatchingPolicy(configuration: $0) }
        if let warmup = object["warmup"] {
            guard let name = warmup as? String, let requirement = WarmupRequirement(rawValue: name) else {
                throw ModelStoreError.invalidConfiguration(#"warmup must be "required" or "tolerated""#)
            }
            self.warmup = requirement
        }
    }
}

/// Every model's parsed configuration, re-read only when its config.json changes (size or modification time).
///
/// An invalid file is reported once per change and replaced by the default (latest 1, the server's batching), so a
/// typo never stops a model from serving. Owned by the model manager thread.
struct ModelConfigs {
    private struct Cached {
        let fingerprint: FileFingerprint?
        let config: ModelConfig
    }

    private var cache: [String: Cached] = [:]
    /// How many times a config.json was parsed (observable in tests: once per change).
    private(set) var parses = 0

    /// The configuration of `model`, parsed again only if its file changed; `report` hears of an invalid file.
    mutating func config(of model: String, in store: ModelStore, report: (Error) -> Void) -> ModelConfig {
        let fingerprint = store.configFingerprint(of: model)
        if let cached = cache[model], cached.fingerprint == fingerprint { return cached.config }
        var config = ModelConfig.default
        if fingerprint != nil, let data = store.configData(of: model) {
            parses += 1
            do {
                config = try ModelConfig(json: data)
            } catch {
                report(error)
            }
        }
        cache[model] = Cached(fingerprint: fingerprint, config: config)
        return config
    }
}
