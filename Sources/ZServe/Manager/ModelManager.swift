import Foundation
import Logging
import ServingProtocol

/// Applies changes to what is served: pushed versions, versions found on disk, loads, unloads, labels, rollbacks,
/// each validated before it goes live and persisted so a restart serves the same way.
///
/// Not thread-safe: the model manager thread owns it (requests from the admin endpoint and the repository poll run
/// there one at a time). Loading happens on that thread, never on a serving thread, and the old version keeps
/// serving until the new one is published.
public final class ModelManager {
    struct Limits {
        /// Largest model a push may announce, in bytes.
        var maxPushSize: UInt64 = 4 << 30
        /// Uploads open at once.
        var concurrentUploads = 4
        /// An upload without a chunk for this long is discarded.
        var uploadIdleTimeout: Duration = .seconds(60)
    }

    public let registry: ModelRegistry
    private let store: ModelStore
    private let limits: Limits
    private let logger: Logger
    private var uploads: [String: Upload] = [:]
    /// Model files that failed to load, so the poll retries them only once they change.
    private var failed: [String: [Int64: FileFingerprint]] = [:]
    /// Versions an operator loaded (kept whatever the policy) or unloaded (not reloaded by the poll).
    private var loadedByOperator: [String: Set<Int64>] = [:]
    private var unloadedByOperator: [String: Set<Int64>] = [:]

    public convenience init(registry: ModelRegistry, repository: ModelRepository, logger: Logger) {
        self.init(registry: registry, repository: repository, limits: Limits(), logger: logger)
    }

    init(registry: ModelRegistry, repository: ModelRepository, limits: Limits, logger: Logger) {
        self.registry = registry
        self.store = ModelStore(repository: repository)
        self.limits = limits
        self.logger = logger
    }

    // MARK: Repository

    /// At start: removes uploads a crash left behind (unless `ownsRepository` is false: a worker reading a repository
    /// a server writes), restores labels and pinned defaults, and loads what the version policies want — falling back
    /// to older versions for a model none of whose wanted versions loads.
    public func start(ownsRepository: Bool = true) throws {
        if ownsRepository { try store.removeStaleUploads() }
        for name in try store.repository.scan().keys.sorted() {
            do {
                let state = try store.servingState(of: name)
                for (label, target) in state.labels { registry.setLabel(name: name, label: label, target: target) }
                registry.pinDefault(name: name, version: state.defaultVersion)
            } catch {
                logger.error("ignoring saved serving state", metadata: ["model": "\(name)", "error": "\(error)"])
            }
        }
        synchronize(requireWarmup: false)
    }

    /// Brings the registry in line with the disk: loads versions the policy wants that are not loaded (new models,
    /// versions copied in by other tools), unloads versions whose files are gone or the policy no longer wants.
    ///
    /// - Parameter requireWarmup: whether a failed warm-up on generated inputs rejects a version (true for versions
    ///   arriving while serving; at start the disk's versions are served as they are).
    public func synchronize(requireWarmup: Bool = true) {
        let onDisk: [String: [Int64]]
        do {
            onDisk = try store.repository.scan()
        } catch {
            logger.error("cannot scan the repository", metadata: ["error": "\(error)"])
            return
        }
        for (name, versions) in onDisk.sorted(by: { $0.key < $1.key }) {
            do {
                registry.setBatching(name: name, policy: try store.batching(of: name))
            } catch {
                logger.error("invalid batching in config.json; not batching", metadata: ["model": "\(name)", "error": "\(error)"])
                registry.setBatching(name: name, policy: .off)
            }
            let available = Set(registry.availableVersions(of: name))
            let wanted = wantedVersions(name, among: versions).subtracting(unloadedByOperator[name] ?? [])
            for version in wanted.subtracting(available).sorted(by: >) {
                _ = loadFromDisk(name, version, requireWarmup: requireWarmup)
            }
            if registry.availableVersions(of: name).isEmpty {
                // Nothing the policy wants loads: serve the newest version that does rather than nothing.
                for version in versions.sorted(by: >) where !wanted.contains(version) {
                    if loadFromDisk(name, version, requireWarmup: requireWarmup) { break }
                }
            }
            for version in Set(registry.availableVersions(of: name)).subtracting(versions) {
                logger.info("version removed from disk; unloading", metadata: ["model": "\(name)", "version": "\(version)"])
                registry.unload(name: name, version: version)
            }
            applyPolicy(name)
        }
        for snapshot in registry.snapshots() where onDisk[snapshot.name] == nil {
            for version in registry.availableVersions(of: snapshot.name) {
                registry.unload(name: snapshot.name, version: version)
            }
        }
    }

    /// Versions of `name` to keep loaded: the policy's choice among `versions`, plus labelled ones, the pinned
    /// default and those an operator loaded.
    private func wantedVersions(_ name: String, among versions: [Int64]) -> Set<Int64> {
        let policy: VersionPolicy
        do {
            policy = try store.policy(of: name)
        } catch {
            logger.error("invalid config.json; using latest 1", metadata: ["model": "\(name)", "error": "\(error)"])
            policy = .latest(1)
        }
        var wanted = policy.select(versions)
        let snapshot = registry.snapshot(of: name)
        wanted.formUnion(snapshot?.labels.values.map(\.version) ?? [])
        if let pinned = registry.pinnedDefault(of: name) { wanted.insert(pinned) }
        wanted.formUnion(loadedByOperator[name] ?? [])
        return wanted.intersection(versions)
    }

    /// Unloads available versions of `name` the policy does not want.
    private func applyPolicy(_ name: String) {
        let available = registry.availableVersions(of: name)
        let keep = wantedVersions(name, among: available)
        for version in available where !keep.contains(version) {
            logger.info("unloading version outside the version policy", metadata: ["model": "\(name)", "version": "\(version)"])
            registry.unload(name: name, version: version)
        }
    }

    /// Loads and publishes a version from the repository unless it already failed unchanged; true when it serves.
    @discardableResult
    private func loadFromDisk(_ name: String, _ version: Int64, requireWarmup: Bool) -> Bool {
        let fingerprint = store.fingerprint(name, version)
        if let fingerprint, failed[name]?[version] == fingerprint { return false }
        registry.markLoading(name: name, version: version)
        do {
            let (servable, tolerated) = try VersionLoader.load(
                file: store.repository.modelFile(name, version), name: name, version: version,
                warmup: .generated(required: requireWarmup))
            if let tolerated {
                logger.warning("warm-up on generated inputs failed; serving anyway", metadata: [
                    "model": "\(name)", "version": "\(version)", "error": "\(tolerated)",
                ])
            }
            registry.publish(servable)
            failed[name]?[version] = nil
            logger.info("loaded model", metadata: [
                "model": "\(name)", "version": "\(version)", "weights_bytes": "\(servable.model.weightBytes)",
            ])
            return true
        } catch {
            registry.markFailed(name: name, version: version, error: error.message)
            failed[name, default: [:]][version] = fingerprint
            logger.error("model version failed to load", metadata: [
                "model": "\(name)", "version": "\(version)", "error": "\(error.message)",
            ])
            return false
        }
    }

    // MARK: Requests

    /// Serves one ModelControl request that changes state.
    func handle(_ method: Method, payload: [UInt8]) -> Reply {
        do throws(ServingError) {
            switch method {
            case .pushModel:
                return .ok(try push(try decodeRequest(Zserve_V1_PushModelRequest.self, from: payload)))
            case .loadModel:
                let request = try decodeRequest(Zserve_V1_LoadModelRequest.self, from: payload)
                try load(request.model, request.version)
                return .ok(Zserve_V1_LoadModelResponse.with { $0.model = info(request.model) })
            case .unloadModel:
                let request = try decodeRequest(Zserve_V1_UnloadModelRequest.self, from: payload)
                try unload(request.model, request.version)
                return .ok(Zserve_V1_UnloadModelResponse.with { $0.model = info(request.model) })
            case .setLabel:
                let request = try decodeRequest(Zserve_V1_SetLabelRequest.self, from: payload)
                try setLabel(request)
                return .ok(Zserve_V1_SetLabelResponse.with { $0.model = info(request.model) })
            case .rollback:
                let request = try decodeRequest(Zserve_V1_RollbackRequest.self, from: payload)
                let (from, to) = try rollback(request.model)
                return .ok(Zserve_V1_RollbackResponse.with {
                    $0.model = info(request.model)
                    $0.fromVersion = from
                    $0.toVersion = to
                })
            default:
                return .error(ServingError(.internal, "\(method.rawValue) is not served by the model manager"))
            }
        } catch {
            return .error(error)
        }
    }

    private func info(_ name: String) -> Zserve_V1_ModelInfo {
        registry.snapshot(of: name).map(ControlHandler.wire) ?? .with { $0.name = name }
    }

    // MARK: Push

    private func push(_ request: Zserve_V1_PushModelRequest) throws(ServingError) -> Zserve_V1_PushModelResponse {
        let upload = request.uploadID.isEmpty ? try open(request) : try existingUpload(request.uploadID)
        do throws(ServingError) {
            try upload.append(offset: request.offset, request.data)
            guard request.commit else {
                return .with {
                    $0.uploadID = upload.id
                    $0.received = upload.received
                }
            }
            uploads[upload.id] = nil
            let version = try commit(upload)
            return .with {
                $0.uploadID = upload.id
                $0.received = upload.received
                $0.model = upload.model
                $0.version = version
                $0.state = .available
            }
        } catch {
            uploads[upload.id] = nil
            upload.discard()
            store.removeUploadsFolderIfEmpty()
            throw error
        }
    }

    private func open(_ request: Zserve_V1_PushModelRequest) throws(ServingError) -> Upload {
        guard ModelRepository.isValidModelName(request.model) else {
            throw ServingError(.invalidArgument, "model name '\(request.model.prefix(200))' must be 1-128 characters of A-Z a-z 0-9 _ - . and not start with '.'")
        }
        guard request.sha256.count == 32 else {
            throw ServingError(.invalidArgument, "sha256 must be 32 bytes, got \(request.sha256.count)")
        }
        guard request.totalSize > 0 else { throw ServingError(.invalidArgument, "total_size must be positive") }
        guard request.totalSize <= limits.maxPushSize else {
            throw ServingError(.resourceExhausted, "model of \(request.totalSize) bytes is over the \(limits.maxPushSize)-byte push limit")
        }
        guard request.version >= 0 else { throw ServingError(.invalidArgument, "version must be positive") }
        if request.version > 0 && store.versionExists(request.model, request.version) {
            throw ServingError(.alreadyExists, "model '\(request.model)' already has a version \(request.version)")
        }
        if let label = request.labels.first(where: { !Self.isValidLabel($0) }) {
            throw ServingError(.invalidArgument, "label '\(label.prefix(200))' must be 1-64 characters of A-Z a-z 0-9 _ -")
        }
        guard uploads.count < limits.concurrentUploads else {
            throw ServingError(.resourceExhausted, "\(uploads.count) uploads are already in progress")
        }
        let id = UUID().uuidString.lowercased()
        do {
            let upload = try Upload(id: id, request: request, directory: try store.makeUploadDirectory(id: id))
            uploads[id] = upload
            return upload
        } catch {
            throw ServingError(.internal, "cannot stage the upload: \(error)")
        }
    }

    private func existingUpload(_ id: String) throws(ServingError) -> Upload {
        guard let upload = uploads[id] else {
            throw ServingError(.notFound, "no upload '\(id.prefix(100))' in progress (unknown, finished, failed or expired)")
        }
        return upload
    }

    /// Verifies, validates, stores and publishes a complete upload; returns the version it became.
    private func commit(_ upload: Upload) throws(ServingError) -> Int64 {
        try upload.finish()
        let version = upload.requestedVersion > 0 ? upload.requestedVersion : store.nextVersion(of: upload.model)
        let (servable, _) = try VersionLoader.load(
            file: upload.file, name: upload.model, version: version,
            warmup: upload.warmupInputs.isEmpty ? .generated(required: true) : .given(upload.warmupInputs))
        do {
            if !upload.metadata.isEmpty {
                let data = try JSONSerialization.data(withJSONObject: upload.metadata, options: [.sortedKeys])
                try data.write(to: upload.directory.appendingPathComponent("metadata.json"))
            }
            try store.commit(upload: upload.directory, model: upload.model, version: version)
        } catch ModelStoreError.versionExists(let model, let version) {
            throw ServingError(.alreadyExists, "model '\(model)' already has a version \(version)")
        } catch {
            throw ServingError(.internal, "storing the version failed: \(error)")
        }
        registry.publish(servable, asNewDefault: true)
        for label in upload.labels {
            let weight = registry.snapshot(of: upload.model)?.labels[label]?.weight ?? 0
            registry.setLabel(name: upload.model, label: label, target: LabelTarget(version: version, weight: weight))
        }
        persist(upload.model)
        applyPolicy(upload.model)
        logger.info("pushed version is live", metadata: [
            "model": "\(upload.model)", "version": "\(version)", "bytes": "\(upload.received)",
        ])
        return version
    }

    /// Discards uploads that received nothing for the idle timeout.
    func expireIdleUploads() {
        let now = MonotonicClock.nanoseconds
        let timeout = UInt64(limits.uploadIdleTimeout / .nanoseconds(1))
        for (id, upload) in uploads where now - upload.lastActivity > timeout {
            logger.warning("discarding an idle upload", metadata: ["upload": "\(id)", "model": "\(upload.model)"])
            upload.discard()
            uploads[id] = nil
        }
        store.removeUploadsFolderIfEmpty()
    }

    // MARK: Load, unload, labels, rollback

    private func load(_ name: String, _ version: Int64) throws(ServingError) {
        guard ModelRepository.isValidModelName(name), version > 0, store.fingerprint(name, version) != nil else {
            throw ServingError(.notFound, "model '\(name.prefix(200))' has no version \(version) on disk")
        }
        unloadedByOperator[name]?.remove(version)
        loadedByOperator[name, default: []].insert(version)
        if !registry.availableVersions(of: name).contains(version) {
            failed[name]?[version] = nil
            guard loadFromDisk(name, version, requireWarmup: true) else {
                loadedByOperator[name]?.remove(version)
                let reason = registry.snapshot(of: name)?.versions.first { $0.version == version }?.error ?? "load failed"
                throw ServingError(.invalidArgument, reason)
            }
        }
    }

    private func unload(_ name: String, _ version: Int64) throws(ServingError) {
        guard registry.availableVersions(of: name).contains(version) else {
            throw ServingError(.notFound, "model '\(name.prefix(200))' has no available version \(version)")
        }
        loadedByOperator[name]?.remove(version)
        unloadedByOperator[name, default: []].insert(version)
        registry.unload(name: name, version: version)
    }

    private func setLabel(_ request: Zserve_V1_SetLabelRequest) throws(ServingError) {
        let name = request.model
        guard let snapshot = registry.snapshot(of: name) else { throw ServingError(.notFound, "model '\(name.prefix(200))' not found") }
        guard Self.isValidLabel(request.label) else {
            throw ServingError(.invalidArgument, "label '\(request.label.prefix(200))' must be 1-64 characters of A-Z a-z 0-9 _ -")
        }
        guard request.weight <= 100 else { throw ServingError(.invalidArgument, "weight is a percentage, got \(request.weight)") }
        guard request.version >= 0 else { throw ServingError(.invalidArgument, "version must be positive") }
        if request.version == 0 {
            registry.setLabel(name: name, label: request.label, target: nil)
        } else {
            guard registry.availableVersions(of: name).contains(request.version) else {
                throw ServingError(.failedPrecondition, "version \(request.version) of '\(name)' is not available; load it first")
            }
            let others = snapshot.labels.filter { $0.key != request.label }.values.reduce(0) { $0 + $1.weight }
            guard others + request.weight <= 100 else {
                throw ServingError(.invalidArgument, "label weights of '\(name)' would add up to \(others + request.weight)%")
            }
            registry.setLabel(name: name, label: request.label, target: LabelTarget(version: request.version, weight: request.weight))
        }
        persist(name)
        applyPolicy(name)
    }

    private func rollback(_ name: String) throws(ServingError) -> (from: Int64, to: Int64) {
        guard let current = registry.snapshot(of: name)?.defaultVersion else {
            throw ServingError(.failedPrecondition, "model '\(name.prefix(200))' has no default version to roll back from")
        }
        let onDisk = (try? store.repository.scan()[name]) ?? nil
        let candidates = Set((onDisk ?? []) + registry.availableVersions(of: name)).filter { $0 < current }.sorted(by: >)
        for version in candidates {
            let available = registry.availableVersions(of: name).contains(version)
            if available || loadFromDisk(name, version, requireWarmup: true) {
                registry.pinDefault(name: name, version: version)
                persist(name)
                applyPolicy(name)
                logger.info("rolled back", metadata: ["model": "\(name)", "from": "\(current)", "to": "\(version)"])
                return (current, version)
            }
        }
        throw ServingError(.failedPrecondition, "model '\(name)' has no earlier version that loads")
    }

    /// Saves labels and the pinned default of `name`; a failure is logged (the change is live but would not survive
    /// a restart).
    private func persist(_ name: String) {
        let labels = registry.snapshot(of: name)?.labels ?? [:]
        do {
            try store.saveServingState(ServingState(defaultVersion: registry.pinnedDefault(of: name), labels: labels), of: name)
        } catch {
            logger.error("could not save serving state", metadata: ["model": "\(name)", "error": "\(error)"])
        }
    }

    private static func isValidLabel(_ label: String) -> Bool {
        (1...64).contains(label.count)
            && label.unicodeScalars.allSatisfy { $0.isASCII && (CharacterSet.alphanumerics.contains($0) || "_-".unicodeScalars.contains($0)) }
    }
}
