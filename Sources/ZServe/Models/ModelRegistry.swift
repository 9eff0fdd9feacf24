import ServingProtocol
import Synchronization

/// The live set of models and versions: which versions are loading, available or failed, and which one serves a
/// request.
///
/// Thread-safe: workers resolve servables while loaders publish new ones. Resolution returns a reference-counted
/// `Servable`, never a lock-protected reference, so publishing a new version never waits for requests.
public final class ModelRegistry: Sendable {
    private struct Entry {
        var servables: [Int64: Servable] = [:]
        var statuses: [Int64: VersionStatus] = [:]
        var labels: [String: Int64] = [:]

        /// The version served when the request names neither version nor label: the newest available.
        var defaultVersion: Int64? { servables.keys.max() }
    }

    private let entries = Mutex<[String: Entry]>([:])

    public init() {}

    /// The servable a request selects: a pinned version, else a label, else the newest available version.
    ///
    /// - Throws: `ServingError` with INVALID_ARGUMENT (no name), NOT_FOUND (unknown model, version or label), or
    ///   UNAVAILABLE (the model exists but no version is available).
    public func resolve(name: String, version: Int64? = nil, label: String = "") throws(ServingError) -> Servable {
        guard !name.isEmpty else { throw ServingError(.invalidArgument, "model name is empty") }
        let result: Result<Servable, ServingError> = entries.withLock { entries in
            guard let entry = entries[name] else { return .failure(ServingError(.notFound, "model '\(name)' not found")) }
            if let version {
                if let servable = entry.servables[version] { return .success(servable) }
                if let status = entry.statuses[version] {
                    return .failure(ServingError(
                        .unavailable, "version \(version) of model '\(name)' is \(status.state.rawValue.lowercased())"))
                }
                return .failure(ServingError(.notFound, "model '\(name)' has no version \(version)"))
            }
            if !label.isEmpty {
                guard let labelled = entry.labels[label], let servable = entry.servables[labelled] else {
                    return .failure(ServingError(.notFound, "model '\(name)' has no label '\(label)'"))
                }
                return .success(servable)
            }
            guard let latest = entry.defaultVersion, let servable = entry.servables[latest] else {
                return .failure(ServingError(.unavailable, "model '\(name)' has no available version"))
            }
            return .success(servable)
        }
        return try result.get()
    }

    /// Records that a version started loading.
    public func markLoading(name: String, version: Int64) {
        update(name, version, VersionStatus(version: version, state: .loading, error: nil))
    }

    /// Records that a version could not be loaded, and why.
    public func markFailed(name: String, version: Int64, error: String) {
        update(name, version, VersionStatus(version: version, state: .failed, error: error))
    }

    /// Makes a loaded version available to new requests.
    public func publish(_ servable: Servable) {
        entries.withLock { entries in
            entries[servable.name, default: Entry()].servables[servable.version] = servable
            entries[servable.name]!.statuses[servable.version] =
                VersionStatus(version: servable.version, state: .available, error: nil)
        }
    }

    /// Every model with the status of each of its versions, sorted by name and version.
    public func statuses() -> [(name: String, versions: [VersionStatus])] {
        entries.withLock { entries in
            entries.keys.sorted().map { name in
                (name, entries[name]!.statuses.values.sorted { $0.version < $1.version })
            }
        }
    }

    /// Versions of `name` that currently serve, ascending.
    public func availableVersions(of name: String) -> [Int64] {
        entries.withLock { $0[name]?.servables.keys.sorted() ?? [] }
    }

    private func update(_ name: String, _ version: Int64, _ status: VersionStatus) {
        entries.withLock { entries in
            entries[name, default: Entry()].statuses[version] = status
        }
    }
}

extension ModelRegistry {
    /// Whether `servable` is still the published instance of its version.
    public func isServing(_ servable: Servable) -> Bool {
        (try? resolve(name: servable.name, version: servable.version)) === servable
    }
}

extension ModelRegistry {
    /// The servable a wire `ModelSpec` selects (version 0 means not pinned).
    ///
    /// - Throws: INVALID_ARGUMENT for a negative version, else as `resolve(name:version:label:)`.
    func resolve(_ spec: Zserve_V1_ModelSpec) throws(ServingError) -> Servable {
        guard spec.version >= 0 else {
            throw ServingError(.invalidArgument, "model version must be positive, got \(spec.version)")
        }
        return try resolve(name: spec.name, version: spec.version > 0 ? spec.version : nil, label: spec.label)
    }
}
