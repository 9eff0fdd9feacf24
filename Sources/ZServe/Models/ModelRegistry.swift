import ServingProtocol
import Synchronization

/// A label's target: a version and the share of unpinned traffic it takes.
public struct LabelTarget: Sendable, Equatable, Codable {
    public var version: Int64
    /// Percentage (0-100) of requests naming neither version nor label that go to this version.
    public var weight: UInt32

    public init(version: Int64, weight: UInt32 = 0) {
        self.version = version
        self.weight = weight
    }
}

/// What the registry knows of one model, as reported by ListModels and ModelStatus.
public struct ModelSnapshot: Sendable, Equatable {
    public let name: String
    public let versions: [VersionStatus]
    public let defaultVersion: Int64?
    public let labels: [String: LabelTarget]
}

/// The live set of models and versions: which versions are loading, available, failed or unloaded, their labels,
/// and which version serves a request.
///
/// Thread-safe: workers resolve servables while the model manager publishes and unloads. Resolution returns a
/// reference-counted `Servable`, so publishing never waits for requests and a request keeps its version alive
/// until it is done.
public final class ModelRegistry: Sendable {
    private struct Entry {
        var servables: [Int64: Servable] = [:]
        var statuses: [Int64: VersionStatus] = [:]
        var labels: [String: LabelTarget] = [:]
        /// Set by a rollback: the default until a newer version is published.
        var pinnedDefault: Int64?

        /// The version served when the request names neither version nor label (before canary weights).
        var defaultVersion: Int64? {
            if let pinnedDefault, servables[pinnedDefault] != nil { return pinnedDefault }
            return servables.keys.max()
        }
    }

    private struct State {
        var entries: [String: Entry] = [:]
        var random: SplitMix64
        /// Batching set by models' config.json; models without one use the server's default.
        var batching: [String: BatchingPolicy] = [:]
    }

    private let state: Mutex<State>
    private let canarySeed: UInt64
    /// Counts changes to the set of available versions (publish, unload), so the broker and workers notice them with
    /// one atomic load.
    private let changes = Atomic<UInt64>(0)

    /// - Parameter canarySeed: seeds the canary split, so it is reproducible: a request with an id always takes the
    ///   same branch for a given seed.
    public init(canarySeed: UInt64 = 0) {
        self.canarySeed = canarySeed
        self.state = Mutex(State(random: SplitMix64(seed: canarySeed)))
    }

    /// The servable a request selects: a pinned version, else a label, else a canary label drawn by weight, else the
    /// default version.
    ///
    /// - Throws: `ServingError` with INVALID_ARGUMENT (no name, or both a version and a label), NOT_FOUND (unknown
    ///   model, version or label), or
    ///   UNAVAILABLE (the model or version exists but is not available).
    public func resolve(
        name: String, version: Int64? = nil, label: String = "", requestID: String = ""
    ) throws(ServingError) -> Servable {
        guard !name.isEmpty else { throw ServingError(.invalidArgument, "model name is empty") }
        let draw = requestID.isEmpty ? nil : SplitMix64.hash(requestID, seed: canarySeed)
        let result: Result<Servable, ServingError> = state.withLock { state in
            let pinned: Servable?
            switch Self.pinnedSelection(state.entries[name], name: name, version: version, label: label) {
            case .failure(let error): return .failure(error)
            case .success(let selected): pinned = selected
            }
            if let pinned { return .success(pinned) }
            let entry = state.entries[name]!
            let percentile = (draw ?? state.random.next()) % 100
            var cumulative: UInt64 = 0
            for (_, target) in entry.labels.sorted(by: { $0.key < $1.key }) where target.weight > 0 {
                cumulative += UInt64(target.weight)
                if percentile < cumulative, let servable = entry.servables[target.version] { return .success(servable) }
            }
            guard let version = entry.defaultVersion, let servable = entry.servables[version] else {
                return .failure(ServingError(.unavailable, "model '\(name)' has no available version"))
            }
            return .success(servable)
        }
        return try result.get()
    }

    /// Why a request naming `name` (and `version` or `label`) cannot be served now, or nil when some version would
    /// serve it. Answers like `resolve` without drawing a canary branch, so the broker can refuse such requests at
    /// once without disturbing the split.
    public func unavailability(name: String, version: Int64? = nil, label: String = "") -> ServingError? {
        state.withLock { state -> ServingError? in
            switch Self.pinnedSelection(state.entries[name], name: name, version: version, label: label) {
            case .failure(let error): error
            case .success(.some): nil
            case .success(.none):
                state.entries[name]!.servables.isEmpty
                    ? ServingError(.unavailable, "model '\(name)' has no available version") : nil
            }
        }
    }

    /// The servable a pinned version or a label selects; nil when the request pins neither (the default or a
    /// canary branch serves it); a failure for an unknown model, version or label or one that is not available.
    private static func pinnedSelection(
        _ entry: Entry?, name: String, version: Int64?, label: String
    ) -> Result<Servable?, ServingError> {
        guard let entry else { return .failure(ServingError(.notFound, "model '\(name)' not found")) }
        if version != nil, !label.isEmpty {
            return .failure(ServingError(.invalidArgument, "give a version or a label, not both (version \(version!), label '\(label.prefix(64))')"))
        }
        if let version {
            if let servable = entry.servables[version] { return .success(servable) }
            if let status = entry.statuses[version] {
                return .failure(ServingError(
                    .unavailable, "version \(version) of model '\(name)' is \(status.state.rawValue.lowercased())"))
            }
            return .failure(ServingError(.notFound, "model '\(name)' has no version \(version)"))
        }
        guard !label.isEmpty else { return .success(nil) }
        guard let target = entry.labels[label] else {
            return .failure(ServingError(.notFound, "model '\(name)' has no label '\(label)'"))
        }
        guard let servable = entry.servables[target.version] else {
            return .failure(ServingError(.unavailable, "label '\(label)' points at version \(target.version), which is not available"))
        }
        return .success(servable)
    }

    /// The servable a wire `ModelSpec` selects (version 0 means not pinned).
    ///
    /// - Throws: INVALID_ARGUMENT for a negative version, else as `resolve(name:version:label:requestID:)`.
    func resolve(_ spec: Zserve_V1_ModelSpec, requestID: String = "") throws(ServingError) -> Servable {
        guard spec.version >= 0 else {
            throw ServingError(.invalidArgument, "model version must be positive, got \(spec.version)")
        }
        return try resolve(
            name: spec.name, version: spec.version > 0 ? spec.version : nil, label: spec.label, requestID: requestID)
    }

    /// Changes so far to the set of available versions; differs from an earlier value after a publish or unload.
    public var generation: UInt64 { changes.load(ordering: .acquiring) }

    /// Exactly `version` of `name` when it is available (no labels, defaults or canaries).
    public func servable(_ key: VersionKey) -> Servable? {
        state.withLock { $0.entries[key.model]?.servables[key.version] }
    }

    /// Every available version, sorted.
    public func availableKeys() -> [VersionKey] {
        state.withLock { state in
            state.entries.flatMap { name, entry in entry.servables.keys.map { VersionKey(model: name, version: $0) } }
        }.sorted()
    }

    /// Every available version whose file is known (`Servable.source`), as remote workers learn of them.
    public func catalog() -> [CatalogEntry] {
        state.withLock { state in
            state.entries.values.flatMap { entry in
                entry.servables.values.compactMap { servable in
                    servable.source.map { CatalogEntry(key: servable.key, sha256: $0.sha256, size: $0.size) }
                }
            }
        }.sorted { $0.key < $1.key }
    }

    /// The file of an available version with that digest, if any.
    public func source(sha256: [UInt8]) -> VersionSource? {
        state.withLock { state in
            for entry in state.entries.values {
                for servable in entry.servables.values where servable.source?.sha256 == sha256 { return servable.source }
            }
            return nil
        }
    }

    /// Records that a version started loading.
    public func markLoading(name: String, version: Int64) {
        setStatus(name, version, .loading, error: nil)
    }

    /// Records that a version could not be loaded, and why.
    public func markFailed(name: String, version: Int64, error: String) {
        setStatus(name, version, .failed, error: error)
    }

    /// Makes a loaded version available to new requests. With `asNewDefault`, a default pinned by a rollback is
    /// released, so the newest version is the default again.
    public func publish(_ servable: Servable, asNewDefault: Bool = false) {
        state.withLock { state in
            var entry = state.entries[servable.name, default: Entry()]
            entry.servables[servable.version] = servable
            entry.statuses[servable.version] = VersionStatus(version: servable.version, state: .available, error: nil)
            if asNewDefault { entry.pinnedDefault = nil }
            state.entries[servable.name] = entry
        }
        changes.add(1, ordering: .releasing)
    }

    /// Stops new requests from reaching a version: UNLOADING while requests already holding it finish on it, END once
    /// the last one is done (its memory is freed when the workers drop their sessions for it).
    public func unload(name: String, version: Int64) {
        let removed: Servable? = state.withLock { state in
            guard let servable = state.entries[name]?.servables.removeValue(forKey: version) else { return nil }
            state.entries[name]?.statuses[version] = VersionStatus(version: version, state: .unloading, error: nil)
            return servable
        }
        if removed != nil { changes.add(1, ordering: .releasing) }
        // Outside the lock: the action may run at once and takes the lock itself.
        removed?.whenIdle { [weak self] in self?.markEnded(removed!) }
    }

    /// Records that the last request on an unloaded version finished (unless the version was loaded again since).
    private func markEnded(_ servable: Servable) {
        state.withLock { state in
            guard state.entries[servable.name]?.statuses[servable.version]?.state == .unloading,
                  state.entries[servable.name]?.servables[servable.version] == nil
            else { return }
            state.entries[servable.name]?.statuses[servable.version] =
                VersionStatus(version: servable.version, state: .end, error: nil)
        }
    }

    /// Points `label` at `version` (nil removes it). The version need not be available yet.
    public func setLabel(name: String, label: String, target: LabelTarget?) {
        state.withLock { state in
            state.entries[name, default: Entry()].labels[label] = target
        }
    }

    /// Sets how requests for `name` are batched (nil: the server's default).
    public func setBatching(name: String, policy: BatchingPolicy?) {
        state.withLock { $0.batching[name] = policy }
    }

    /// How requests for `name` are batched, if its configuration says.
    public func batching(of name: String) -> BatchingPolicy? {
        state.withLock { $0.batching[name] }
    }

    /// Pins the default version (nil: the newest available).
    public func pinDefault(name: String, version: Int64?) {
        state.withLock { state in
            state.entries[name, default: Entry()].pinnedDefault = version
        }
    }

    /// Every model with its versions, default and labels, sorted by name.
    public func snapshots() -> [ModelSnapshot] {
        state.withLock { state in
            state.entries.keys.sorted().map { Self.snapshot($0, state.entries[$0]!) }
        }
    }

    /// One model's snapshot, or nil when the registry has never heard of it.
    public func snapshot(of name: String) -> ModelSnapshot? {
        state.withLock { state in state.entries[name].map { Self.snapshot(name, $0) } }
    }

    /// The pinned default of `name`, if a rollback set one.
    public func pinnedDefault(of name: String) -> Int64? {
        state.withLock { $0.entries[name]?.pinnedDefault }
    }

    /// Versions of `name` that currently serve, ascending.
    public func availableVersions(of name: String) -> [Int64] {
        state.withLock { $0.entries[name]?.servables.keys.sorted() ?? [] }
    }

    /// Whether `servable` is still the published instance of its version.
    public func isServing(_ servable: Servable) -> Bool {
        state.withLock { $0.entries[servable.name]?.servables[servable.version] === servable }
    }

    private static func snapshot(_ name: String, _ entry: Entry) -> ModelSnapshot {
        ModelSnapshot(
            name: name, versions: entry.statuses.values.sorted { $0.version < $1.version },
            defaultVersion: entry.defaultVersion, labels: entry.labels)
    }

    private func setStatus(_ name: String, _ version: Int64, _ versionState: VersionState, error: String?) {
        state.withLock { state in
            state.entries[name, default: Entry()].statuses[version] =
                VersionStatus(version: version, state: versionState, error: error)
        }
    }
}

/// SplitMix64: a small, well-mixed 64-bit generator (Steele, Lea, Flood 2014), used for the seeded canary split.
struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) {
        state = seed
    }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        return Self.mix(state)
    }

    /// A well-mixed hash of `text` under `seed` (FNV-1a, then the SplitMix64 finalizer).
    static func hash(_ text: String, seed: UInt64) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325 ^ seed
        for byte in text.utf8 {
            hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3
        }
        return mix(hash)
    }

    private static func mix(_ value: UInt64) -> UInt64 {
        var z = value
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
