import Foundation
import Logging
import ServingProtocol

/// The one owner of the model lifecycle: sources say which versions should serve, one reconcile path makes it so.
///
/// Sources, as TF Serving names them: the repository scan (start-up and polling), a finished push, and an operator's
/// load, unload, label or rollback. Each only changes what is *aspired* — the disk's versions, what an operator
/// loaded or unloaded, labels and a pinned default — then `reconcile` brings the registry in line through one
/// `Loader`: LOADING while it loads and warms up, AVAILABLE once published, FAILED with the reason, UNLOADING until
/// requests still running on an unloaded version finish, END after. The old version keeps serving until the new one
/// is published, and nothing a policy or an operator did not ask for is unloaded.
///
/// Not thread-safe: the model manager thread owns it (admin requests and the poll run there one at a time), so
/// loading never runs on a serving thread.
public final class ModelManager {
    struct Limits {
        /// Largest model a push may announce, in bytes.
        var maxPushSize: UInt64 = 4 << 30
        /// Uploads open at once.
        var concurrentUploads = 4
        /// Models served at most (a push of another is refused; a scan serves the first ones by name).
        var maxModels = 1000
        /// An upload without a chunk for this long is discarded.
        var uploadIdleTimeout: Duration = .seconds(60)
    }

    /// How a finished push chunk left the upload.
    struct PushOutcome {
        let uploadID: String
        let received: UInt64
        /// Set when the chunk committed the upload: the model and the version it became (AVAILABLE).
        let published: (model: String, version: Int64)?
    }

    public let registry: ModelRegistry
    let store: ModelStore
    private let loader: any Loader
    private let limits: Limits
    private let logger: Logger
    private let metrics: ServerMetrics?
    private var configs = ModelConfigs()
    private var servingStates = ServingStates()
    private var uploads: [String: Upload] = [:]
    /// Every model's versions on disk as of the last scan or commit (the repository source's aspiration).
    private var onDisk: [String: [Int64]] = [:]
    /// Model files that failed to load, so the poll retries them only once they change.
    private var failed: [String: [Int64: FileFingerprint]] = [:]
    /// Versions an operator loaded (kept whatever the policy) or unloaded (not reloaded by the poll).
    private var loadedByOperator: [String: Set<Int64>] = [:]
    private var unloadedByOperator: [String: Set<Int64>] = [:]
    /// Each model's default version as last logged, to report (and count) when it changes.
    private var announcedDefaults: [String: Int64] = [:]

    /// The limits a server configuration sets.
    static func limits(_ configuration: ServerConfiguration) -> Limits {
        Limits(maxPushSize: configuration.maxPushSize, concurrentUploads: configuration.maxUploads, maxModels: configuration.maxModels)
    }

    public convenience init(registry: ModelRegistry, repository: ModelRepository, logger: Logger) {
        self.init(registry: registry, repository: repository, loader: ONNXLoader(), limits: Limits(), logger: logger)
    }

    init(
        registry: ModelRegistry, repository: ModelRepository, loader: any Loader, limits: Limits, logger: Logger,
        metrics: ServerMetrics? = nil
    ) {
        self.metrics = metrics
        self.registry = registry
        self.store = ModelStore(repository: repository)
        self.loader = loader
        self.limits = limits
        self.logger = logger
    }

    private var stateContext: ServingStates.Context {
        ServingStates.Context(registry: registry, store: store, logger: logger)
    }

    /// How many times a config.json was parsed (once per change).
    var configParses: Int { configs.parses }

    // MARK: Repository source

    /// At start: removes uploads a crash left behind (unless `ownsRepository` is false: a worker reading a repository
    /// a server writes), restores labels and pinned defaults, and serves what the disk holds — falling back to older
    /// versions for a model none of whose wanted versions loads; a failed warm-up on generated inputs is tolerated.
    ///
    /// - Throws: when the repository cannot be read.
    public func start(ownsRepository: Bool = true) throws {
        if ownsRepository { try store.removeStaleUploads() }
        try scan()
        for name in onDisk.keys.sorted() {
            do {
                try servingStates.restore(name, from: store, into: registry)
            } catch {
                logger.error("ignoring saved serving state", metadata: ["model": "\(name)", "error": "\(error)"])
            }
        }
        reconcileAll(requireWarmup: false)
    }

    /// The poll: rescans the repository and reconciles every model (new models, versions copied in or removed by
    /// other tools, changed config.json).
    ///
    /// - Parameter requireWarmup: whether a failed warm-up on generated inputs rejects a version.
    public func synchronize(requireWarmup: Bool = true) {
        do {
            try scan()
        } catch {
            logger.error("cannot scan the repository", metadata: ["error": "\(error)"])
            return
        }
        reconcileAll(requireWarmup: requireWarmup)
    }

    /// Rescans the repository; beyond `maxModels` models only the first ones by name count as on disk.
    private func scan() throws {
        onDisk = try store.repository.scan()
        let names = onDisk.keys.sorted()
        guard names.count > limits.maxModels else { return }
        let skipped = names.dropFirst(limits.maxModels)
        logger.error("more models on disk than --max-models; serving the first by name", metadata: [
            "limit": "\(limits.maxModels)", "not_served": "\(skipped.joined(separator: ", "))",
        ])
        for name in skipped { onDisk[name] = nil }
    }

    private func reconcileAll(requireWarmup: Bool) {
        for name in onDisk.keys.sorted() { reconcile(name, requireWarmup: requireWarmup) }
        for snapshot in registry.snapshots() where onDisk[snapshot.name] == nil {
            for version in registry.availableVersions(of: snapshot.name) {
                logger.info("model removed from disk; unloading", metadata: ["model": "\(snapshot.name)", "version": "\(version)"])
                registry.unload(name: snapshot.name, version: version)
            }
            announceDefault(of: snapshot.name)
        }
    }

    /// Logs a change of `name`'s default version (what unlabelled requests get) and counts a swap from one version
    /// to another in `zserve_model_swaps_total`.
    private func announceDefault(of name: String) {
        let current = registry.snapshot(of: name)?.defaultVersion
        let previous = announcedDefaults[name]
        guard current != previous else { return }
        announcedDefaults[name] = current
        if let current {
            logger.notice("default version changed", metadata: [
                "model": "\(name)", "from": "\(previous.map(String.init) ?? "none")", "to": "\(current)",
            ])
            if previous != nil { metrics?.countSwap(model: name) }
        } else {
            logger.warning("model has no available version", metadata: ["model": "\(name)", "from": "\(previous ?? 0)"])
        }
    }

    // MARK: Reconcile

    /// Brings one model's served versions in line with what is aspired: loads aspired versions that are not
    /// available (newest first), falls back to the newest version that loads when none of them does, unloads versions
    /// gone from disk, then unloads available versions nothing asks for.
    private func reconcile(_ name: String, requireWarmup: Bool = true) {
        let versions = onDisk[name] ?? []
        let config = configs.config(of: name, in: store) { error in
            logger.error("invalid config.json; serving with the defaults (latest 1, server batching)", metadata: [
                "model": "\(name)", "error": "\(error)",
            ])
        }
        registry.setBatching(name: name, policy: config.batching)
        let requireWarmup = config.warmup.map { $0 == .required } ?? requireWarmup
        let available = Set(registry.availableVersions(of: name))
        let wanted = aspired(name, config, among: versions)
        for version in wanted.subtracting(available).sorted(by: >) {
            _ = loadFromDisk(name, version, requireWarmup: requireWarmup)
        }
        if registry.availableVersions(of: name).isEmpty {
            // Nothing the policy wants loads: serve the newest version that does rather than nothing.
            let unloaded = unloadedByOperator[name] ?? []
            for version in versions.sorted(by: >) where !wanted.contains(version) && !unloaded.contains(version) {
                if loadFromDisk(name, version, requireWarmup: requireWarmup) { break }
            }
        }
        let present = Set(versions)
        for version in registry.availableVersions(of: name) where !present.contains(version) {
            logger.info("version removed from disk; unloading", metadata: ["model": "\(name)", "version": "\(version)"])
            registry.unload(name: name, version: version)
        }
        let served = registry.availableVersions(of: name)
        let keep = aspired(name, config, among: served)
        for version in served where !keep.contains(version) {
            logger.info("unloading version nothing asks for", metadata: ["model": "\(name)", "version": "\(version)"])
            registry.unload(name: name, version: version)
        }
        announceDefault(of: name)
    }

    /// Versions of `name` to serve among `versions`: the policy's choice, plus labelled ones, the pinned default and
    /// those an operator loaded, minus those an operator unloaded.
    private func aspired(_ name: String, _ config: ModelConfig, among versions: [Int64]) -> Set<Int64> {
        let state = servingStates.state(of: name)
        var wanted = config.versionPolicy.select(versions)
        wanted.formUnion(state.labels.values.map(\.version))
        if let pinned = state.defaultVersion { wanted.insert(pinned) }
        wanted.formUnion(loadedByOperator[name] ?? [])
        return wanted.intersection(versions).subtracting(unloadedByOperator[name] ?? [])
    }

    /// Loads and publishes a version from the repository unless it already failed unchanged; true when it serves.
    @discardableResult
    private func loadFromDisk(_ name: String, _ version: Int64, requireWarmup: Bool) -> Bool {
        let fingerprint = store.fingerprint(name, version)
        if let fingerprint, failed[name]?[version] == fingerprint { return false }
        let file = store.repository.modelFile(name, version)
        switch bringUp(name, version, file: file, warmup: .generated(required: requireWarmup)) {
        case .success(let loaded):
            // Remote workers fetch the file by its digest; a file that cannot be hashed still serves locally.
            let servable = (try? VersionSource(hashing: file)).map(loaded.located) ?? loaded
            registry.publish(servable)
            failed[name]?[version] = nil
            logger.info("loaded model", metadata: [
                "model": "\(name)", "version": "\(version)", "weights_bytes": "\(servable.model.weightBytes)",
            ])
            return true
        case .failure:
            failed[name, default: [:]][version] = fingerprint
            return false
        }
    }

    /// Loads and warms up one version through the loader, showing LOADING meanwhile and FAILED with the reason when
    /// it does not load. The caller publishes the servable.
    private func bringUp(_ name: String, _ version: Int64, file: URL, warmup: Warmup) -> Result<Servable, ServingError> {
        registry.markLoading(name: name, version: version)
        do {
            let (servable, tolerated) = try loader.load(file: file, name: name, version: version, warmup: warmup)
            metrics?.countLifecycle("load", ok: true)
            if let tolerated {
                logger.warning("warm-up on generated inputs failed; serving anyway", metadata: [
                    "model": "\(name)", "version": "\(version)", "error": "\(tolerated)",
                ])
            }
            return .success(servable)
        } catch {
            metrics?.countLifecycle("load", ok: false)
            registry.markFailed(name: name, version: version, error: error.message)
            logger.error("model version failed to load", metadata: [
                "model": "\(name)", "version": "\(version)", "error": "\(error.message)",
            ])
            return .failure(error)
        }
    }

    // MARK: Push source

    /// Takes one PushModel chunk; the committing chunk verifies the upload, loads and warms it up (LOADING, or FAILED
    /// with the reason), stores it atomically and publishes it as the new default.
    ///
    /// - Throws: INVALID_ARGUMENT, NOT_FOUND, ALREADY_EXISTS, OUT_OF_RANGE, DATA_LOSS, RESOURCE_EXHAUSTED (limits,
    ///   or the repository's file system full), UNAVAILABLE (the repository read-only) or INTERNAL naming what is
    ///   wrong; the upload is then discarded and nothing changes on disk.
    func push(_ request: Zserve_V1_PushModelRequest) throws(ServingError) -> PushOutcome {
        let upload = request.uploadID.isEmpty ? try open(request) : try existingUpload(request.uploadID)
        do throws(ServingError) {
            try upload.append(offset: request.offset, request.data)
            guard request.commit else { return PushOutcome(uploadID: upload.id, received: upload.received, published: nil) }
            uploads[upload.id] = nil
            let version = try commit(upload)
            metrics?.countLifecycle("push", ok: true)
            return PushOutcome(uploadID: upload.id, received: upload.received, published: (upload.model, version))
        } catch {
            if request.commit { metrics?.countLifecycle("push", ok: false) }
            logger.warning("push refused", metadata: [
                "model": "\(upload.model)", "upload": "\(upload.id)", "code": "\(error.code.name)", "reason": "\(error.message)",
            ])
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
        if onDisk[request.model] == nil, onDisk.count >= limits.maxModels {
            throw ServingError(.resourceExhausted, "the server serves \(onDisk.count) models, the --max-models limit; model '\(request.model)' is new")
        }
        guard uploads.count < limits.concurrentUploads else {
            throw ServingError(.resourceExhausted, "\(uploads.count) uploads are already in progress")
        }
        let id = UUID().uuidString.lowercased()
        let directory: URL
        do {
            directory = try store.makeUploadDirectory(id: id)
        } catch {
            store.removeUploadsFolderIfEmpty()
            throw StorageFailure.servingError("cannot stage the upload", error)
        }
        do {
            let upload = try Upload(id: id, request: request, directory: directory)
            uploads[id] = upload
            return upload
        } catch {
            // A full file system may refuse the file after the directory: leave nothing behind.
            try? FileManager.default.removeItem(at: directory)
            store.removeUploadsFolderIfEmpty()
            throw StorageFailure.servingError("cannot stage the upload", error)
        }
    }

    private func existingUpload(_ id: String) throws(ServingError) -> Upload {
        guard let upload = uploads[id] else {
            throw ServingError(.notFound, "no upload '\(id.prefix(100))' in progress (unknown, finished, failed or expired)")
        }
        return upload
    }

    /// Verifies, loads and warms up a complete upload, stores it as a version and publishes it; returns the version.
    private func commit(_ upload: Upload) throws(ServingError) -> Int64 {
        try upload.finish()
        let name = upload.model
        let version = upload.requestedVersion > 0 ? upload.requestedVersion : store.nextVersion(of: name)
        let warmup: Warmup = upload.warmupInputs.isEmpty ? .generated(required: true) : .given(upload.warmupInputs)
        let servable = try bringUp(name, version, file: upload.file, warmup: warmup).get()
        do {
            if !upload.metadata.isEmpty {
                let data = try JSONSerialization.data(withJSONObject: upload.metadata, options: [.sortedKeys])
                try data.write(to: upload.directory.appendingPathComponent("metadata.json"))
            }
            try store.commit(upload: upload.directory, model: name, version: version)
        } catch {
            let failure = if case ModelStoreError.versionExists = error {
                ServingError(.alreadyExists, "model '\(name)' already has a version \(version)")
            } else {
                StorageFailure.servingError("storing the version failed", error)
            }
            registry.markFailed(name: name, version: version, error: failure.message)
            throw failure
        }
        onDisk[name, default: []].append(version)
        let stored = VersionSource(
            file: store.repository.modelFile(name, version), sha256: upload.sha256, size: upload.received)
        registry.publish(servable.located(stored), asNewDefault: true)
        if servingStates.state(of: name).defaultVersion != nil {
            servingStates.pinDefault(of: name, to: nil, stateContext)
        }
        for label in upload.labels {
            let weight = servingStates.state(of: name).labels[label]?.weight ?? 0
            servingStates.setLabel(label, of: name, to: LabelTarget(version: version, weight: weight), stateContext)
        }
        reconcile(name)
        logger.info("pushed version is live", metadata: ["model": "\(name)", "version": "\(version)", "bytes": "\(upload.received)"])
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

    // MARK: Operator source

    /// Serves `version` of `name` whatever the policy says, until unloaded.
    ///
    /// - Throws: INVALID_ARGUMENT for an empty name or a version that is not positive, NOT_FOUND when the version is
    ///   not on disk, INVALID_ARGUMENT with the reason when it does not load.
    func load(_ name: String, _ version: Int64) throws(ServingError) {
        try Self.checkNamed(name, version: version)
        guard ModelRepository.isValidModelName(name), version > 0, store.fingerprint(name, version) != nil else {
            throw ServingError(.notFound, "model '\(name.prefix(200))' has no version \(version) on disk")
        }
        if onDisk[name]?.contains(version) != true { onDisk[name, default: []].append(version) }
        unloadedByOperator[name]?.remove(version)
        loadedByOperator[name, default: []].insert(version)
        failed[name]?[version] = nil
        reconcile(name)
        guard registry.availableVersions(of: name).contains(version) else {
            loadedByOperator[name]?.remove(version)
            let reason = registry.snapshot(of: name)?.versions.first { $0.version == version }?.error ?? "load failed"
            throw ServingError(.invalidArgument, reason)
        }
    }

    /// Stops serving `version` of `name`; the poll does not bring it back until an operator loads it.
    ///
    /// - Throws: INVALID_ARGUMENT for an empty name or a version that is not positive, NOT_FOUND when the version is
    ///   not available.
    func unload(_ name: String, _ version: Int64) throws(ServingError) {
        try Self.checkNamed(name, version: version)
        guard registry.availableVersions(of: name).contains(version) else {
            throw ServingError(.notFound, "model '\(name.prefix(200))' has no available version \(version)")
        }
        loadedByOperator[name]?.remove(version)
        unloadedByOperator[name, default: []].insert(version)
        reconcile(name)
    }

    /// Points `label` at `version` with a canary `weight` (percent), or removes it (version 0).
    ///
    /// - Throws: NOT_FOUND (unknown model), INVALID_ARGUMENT (empty model name, bad label or weights),
    ///   FAILED_PRECONDITION (the version is not available).
    func setLabel(_ name: String, label: String, version: Int64, weight: UInt32) throws(ServingError) {
        try Self.checkNamed(name)
        guard registry.snapshot(of: name) != nil else { throw ServingError(.notFound, "model '\(name.prefix(200))' not found") }
        guard Self.isValidLabel(label) else {
            throw ServingError(.invalidArgument, "label '\(label.prefix(200))' must be 1-64 characters of A-Z a-z 0-9 _ -")
        }
        guard weight <= 100 else { throw ServingError(.invalidArgument, "weight is a percentage, got \(weight)") }
        guard version >= 0 else { throw ServingError(.invalidArgument, "version must be positive") }
        if version == 0 {
            servingStates.setLabel(label, of: name, to: nil, stateContext)
        } else {
            guard registry.availableVersions(of: name).contains(version) else {
                throw ServingError(.failedPrecondition, "version \(version) of '\(name)' is not available; load it first")
            }
            let others = servingStates.state(of: name).labels.filter { $0.key != label }.values.reduce(0) { $0 + $1.weight }
            guard others + weight <= 100 else {
                throw ServingError(.invalidArgument, "label weights of '\(name)' would add up to \(others + weight)%")
            }
            servingStates.setLabel(label, of: name, to: LabelTarget(version: version, weight: weight), stateContext)
        }
        reconcile(name)
    }

    /// Makes the newest earlier version that loads the default again (pinned until a newer version is pushed).
    ///
    /// - Throws: INVALID_ARGUMENT for an empty name, NOT_FOUND for an unknown model, FAILED_PRECONDITION when there
    ///   is no default or no earlier version loads.
    func rollback(_ name: String) throws(ServingError) -> (from: Int64, to: Int64) {
        try Self.checkNamed(name)
        guard let snapshot = registry.snapshot(of: name) else {
            throw ServingError(.notFound, "model '\(name.prefix(200))' not found")
        }
        guard let current = snapshot.defaultVersion else {
            throw ServingError(.failedPrecondition, "model '\(name.prefix(200))' has no default version to roll back from")
        }
        let candidates = Set((onDisk[name] ?? []) + registry.availableVersions(of: name)).filter { $0 < current }.sorted(by: >)
        for version in candidates {
            let available = registry.availableVersions(of: name).contains(version)
            if available || loadFromDisk(name, version, requireWarmup: true) {
                servingStates.pinDefault(of: name, to: version, stateContext)
                reconcile(name)
                logger.info("rolled back", metadata: ["model": "\(name)", "from": "\(current)", "to": "\(version)"])
                return (current, version)
            }
        }
        throw ServingError(.failedPrecondition, "model '\(name)' has no earlier version that loads")
    }

    /// Refuses an operator request that names no model, or a version that is not positive (when one is given), with
    /// INVALID_ARGUMENT, as Predict does.
    static func checkNamed(_ name: String, version: Int64? = nil) throws(ServingError) {
        guard !name.isEmpty else { throw ServingError(.invalidArgument, "model name is empty") }
        if let version, version <= 0 {
            throw ServingError(.invalidArgument, "model version must be positive, got \(version)")
        }
    }

    static func isValidLabel(_ label: String) -> Bool {
        (1...64).contains(label.count)
            && label.unicodeScalars.allSatisfy { $0.isASCII && (CharacterSet.alphanumerics.contains($0) || "_-".unicodeScalars.contains($0)) }
    }
}
