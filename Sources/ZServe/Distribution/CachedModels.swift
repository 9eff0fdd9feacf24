import Dispatch
import Foundation
import Logging
import Synchronization

/// A worker's models fetched from the servers it serves: each server's catalog says which versions it serves; the
/// missing files are fetched over the connection that listed them (in chunks, a few in flight), verified against
/// their SHA-256, renamed into the cache, then loaded, validated and warmed up on a background queue and published
/// into the worker's registry. A version leaves once no catalog lists it — but only after every listed version of
/// its model is loaded (or failed), so the worker never drops to nothing during a rollout.
///
/// Thread-safe: worker loops call it from their threads; loads run on a private serial queue.
final class CachedModels: WorkerModelSource {
    /// Bytes asked for per fetch: starts small (64 KiB), halved while a chunk takes longer than `slowChunk` to
    /// arrive and doubled while it takes less than `fastChunk`, so on a slow link the broker's heartbeats, which
    /// queue behind the chunks on the same connection, still arrive well within the liveness limit.
    static let largestChunk: UInt64 = 1 << 20
    static let smallestChunk: UInt64 = 16 << 10
    static let slowChunk: UInt64 = 400_000_000
    static let fastChunk: UInt64 = 100_000_000
    /// Fetches in flight per file.
    static let window = 2
    /// A transfer that received nothing for this long is started again (a chunk was dropped on the way).
    static let stallNanoseconds: UInt64 = 10_000_000_000

    private struct Transfer {
        let connection: Int
        let download: VersionCache.Download
        /// Bytes asked for so far (the next fetch starts here).
        var requested: UInt64
        /// When the last chunk arrived (or the transfer started), `MonotonicClock` nanoseconds.
        var lastProgress = MonotonicClock.nanoseconds
        /// The size of the next fetch.
        var chunk: UInt64 = 64 << 10
        /// Fetches sent and not yet answered.
        var inFlight = 0

        /// Adapts the chunk size to how long the last chunk took.
        mutating func arrived(now: UInt64) {
            let took = now - lastProgress
            lastProgress = now
            inFlight -= 1
            if took > CachedModels.slowChunk {
                chunk = max(CachedModels.smallestChunk, chunk / 2)
            } else if took < CachedModels.fastChunk {
                chunk = min(CachedModels.largestChunk, chunk * 2)
            }
        }
    }

    private struct State {
        var nextConnection = 0
        /// Each connection's latest catalog.
        var catalogs: [Int: [CatalogEntry]] = [:]
        /// Versions a connection's server listed before and no longer does, still loaded until their replacements
        /// are: still reported ready to it, so its broker can keep routing to them during a rollout.
        var retained: [Int: Set<VersionKey>] = [:]
        /// Digests a connection's server refused to send, not asked again until its next catalog.
        var refused: [Int: Set<[UInt8]>] = [:]
        var transfers: [[UInt8]: Transfer] = [:]
        /// Digests whose file is being loaded.
        var loading: Set<[UInt8]> = []
        /// Versions published in the registry, with the digest of the file each came from.
        var loaded: [VersionKey: [UInt8]] = [:]
        /// Digests whose file did not load, with why (not retried: the same bytes fail the same way).
        var failed: [[UInt8]: String] = [:]
        var settling = false
    }

    private let registry: ModelRegistry
    private let cache: VersionCache
    private let loader: any Loader & Sendable
    private let logger: Logger
    private let state = Mutex(State())
    private let changes = Atomic<UInt64>(0)
    private let settlingFlag = Atomic<Bool>(false)
    private let loads = DispatchQueue(label: "zserve-worker-loads", qos: .utility)

    init(registry: ModelRegistry, cache: VersionCache, loader: any Loader & Sendable, logger: Logger) {
        self.registry = registry
        self.cache = cache
        self.loader = loader
        self.logger = logger
    }

    var generation: UInt64 { changes.load(ordering: .acquiring) }
    var isSettling: Bool { settlingFlag.load(ordering: .relaxed) }

    func attach() -> Int {
        state.withLock { state in
            defer { state.nextConnection += 1 }
            return state.nextConnection
        }
    }

    func receive(_ message: WorkerMessage, connection: Int) -> [WorkerMessage] {
        switch message {
        case .catalog(let entries):
            let messages = update { state in
                let listed = Set(entries.map(\.key))
                let dropped = (state.catalogs[connection] ?? []).filter { state.loaded[$0.key] == $0.sha256 }.map(\.key)
                state.retained[connection, default: []].formUnion(dropped)
                state.retained[connection]!.subtract(listed)
                state.catalogs[connection] = entries
                state.refused[connection] = []
                unloadUnlisted(&state)
                return start(&state, connection)
            }
            logger.info("catalog received", metadata: [
                "connection": "\(connection)", "versions": "\(entries.map(\.key.description).joined(separator: ", "))",
            ])
            return messages
        case .chunk(let sha256, let offset, let bytes):
            return update { state in received(&state, connection, sha256, offset, bytes) }
        case .fetchFailed(let sha256, let reason):
            logger.warning("server refused a fetch", metadata: ["sha256": "\(sha256.hexString)", "reason": "\(reason)"])
            return update { state in
                if state.transfers[sha256]?.connection == connection { state.transfers.removeValue(forKey: sha256)?.download.discard() }
                state.refused[connection, default: []].insert(sha256)
                return start(&state, connection)
            }
        default:
            return []
        }
    }

    func outbox(connection: Int) -> [WorkerMessage] {
        update { state in
            let now = MonotonicClock.nanoseconds
            for (digest, transfer) in state.transfers
            where transfer.connection == connection && now - transfer.lastProgress > Self.stallNanoseconds {
                logger.warning("fetch stalled; starting it again", metadata: ["sha256": "\(digest.hexString)"])
                transfer.download.discard()
                state.transfers[digest] = nil
            }
            return start(&state, connection)
        }
    }

    func reset(connection: Int) {
        update { state in
            for (digest, transfer) in state.transfers where transfer.connection == connection {
                transfer.download.discard()
                state.transfers[digest] = nil
            }
            return []
        }
    }

    func ready(connection: Int) -> [VersionKey] {
        state.withLock { state in
            let listed = (state.catalogs[connection] ?? []).filter { state.loaded[$0.key] == $0.sha256 }.map(\.key)
            let retained = (state.retained[connection] ?? []).filter { state.loaded[$0] != nil }
            return Set(listed).union(retained).sorted()
        }
    }

    // MARK: State changes (all under the lock)

    /// Runs `change` under the lock, then refreshes the settling flag and the generation.
    private func update(_ change: (inout State) -> [WorkerMessage]) -> [WorkerMessage] {
        let messages = state.withLock { state in
            let messages = change(&state)
            state.settling = !state.transfers.isEmpty || !state.loading.isEmpty || hasWork(state)
            settlingFlag.store(state.settling, ordering: .relaxed)
            return messages
        }
        changes.add(1, ordering: .releasing)
        return messages
    }

    /// Whether some listed version is neither loaded nor failed (it still has to be fetched or loaded).
    private func hasWork(_ state: State) -> Bool {
        state.catalogs.values.contains { entries in entries.contains { needs(state, $0) } }
    }

    private func needs(_ state: State, _ entry: CatalogEntry) -> Bool {
        state.loaded[entry.key] != entry.sha256 && state.failed[entry.sha256] == nil
    }

    /// Starts what `connection`'s catalog needs: loads of files already cached, fetches of the others.
    private func start(_ state: inout State, _ connection: Int) -> [WorkerMessage] {
        var messages: [WorkerMessage] = []
        for entry in state.catalogs[connection] ?? [] where needs(state, entry) {
            let digest = entry.sha256
            guard !state.loading.contains(digest), state.transfers[digest] == nil,
                  state.refused[connection]?.contains(digest) != true
            else { continue }
            if cache.contains(digest) {
                state.loading.insert(digest)
                scheduleLoad(digest, verify: true)
                continue
            }
            guard entry.size > 0 else {
                state.failed[digest] = "the server announced an empty file"
                continue
            }
            do {
                let download = try cache.beginDownload(sha256: digest, size: entry.size)
                state.transfers[digest] = Transfer(connection: connection, download: download, requested: 0)
                messages += requestMore(&state, digest)
                logger.info("fetching model", metadata: ["version": "\(entry.key)", "bytes": "\(entry.size)"])
            } catch {
                logger.error("cannot stage a download", metadata: ["version": "\(entry.key)", "error": "\(error)"])
                state.refused[connection, default: []].insert(digest)
            }
        }
        return messages
    }

    /// Fetches to keep `window` chunks of the file in flight.
    private func requestMore(_ state: inout State, _ digest: [UInt8]) -> [WorkerMessage] {
        guard var transfer = state.transfers[digest] else { return [] }
        var messages: [WorkerMessage] = []
        let size = transfer.download.size
        while transfer.requested < size, transfer.inFlight < Self.window {
            let length = min(transfer.chunk, size - transfer.requested)
            messages.append(.fetch(sha256: digest, offset: transfer.requested, length: UInt32(length)))
            transfer.requested += length
            transfer.inFlight += 1
        }
        state.transfers[digest] = transfer
        return messages
    }

    private func received(
        _ state: inout State, _ connection: Int, _ digest: [UInt8], _ offset: UInt64, _ bytes: [UInt8]
    ) -> [WorkerMessage] {
        // A chunk of an abandoned transfer (stalled, then started again) arrives out of place: ignored.
        guard var transfer = state.transfers[digest], transfer.connection == connection,
              offset == transfer.download.received
        else { return [] }
        transfer.arrived(now: MonotonicClock.nanoseconds)
        state.transfers[digest] = transfer
        do {
            try transfer.download.append(offset: offset, bytes)
            guard transfer.download.isComplete else { return requestMore(&state, digest) }
            state.transfers[digest] = nil
            _ = try transfer.download.commit()
            state.loading.insert(digest)
            scheduleLoad(digest, verify: false)
        } catch {
            logger.error("fetch failed", metadata: ["sha256": "\(digest.hexString)", "error": "\(error)"])
            transfer.download.discard()
            state.transfers[digest] = nil
            // Not asked again on this connection until its server sends a new catalog.
            state.refused[connection, default: []].insert(digest)
        }
        return start(&state, connection)
    }

    /// Unpublishes versions no catalog lists any more, once every listed version of their model is settled.
    private func unloadUnlisted(_ state: inout State) {
        let listed = Set(state.catalogs.values.flatMap { $0.map { ListedFile(key: $0.key, sha256: $0.sha256) } })
        for (key, digest) in state.loaded where !listed.contains(ListedFile(key: key, sha256: digest)) {
            let unsettled = state.catalogs.values.contains { entries in
                entries.contains { $0.key.model == key.model && needs(state, $0) }
            }
            guard !unsettled else { continue }
            state.loaded[key] = nil
            for connection in state.retained.keys { state.retained[connection]?.remove(key) }
            registry.unload(name: key.model, version: key.version)
            if !listed.contains(where: { $0.sha256 == digest }) { cache.remove(digest) }
            logger.info("version unloaded (no server lists it)", metadata: ["version": "\(key)"])
        }
    }

    private struct ListedFile: Hashable {
        let key: VersionKey
        let sha256: [UInt8]
    }

    // MARK: Loading (on the load queue)

    private func scheduleLoad(_ digest: [UInt8], verify: Bool) {
        loads.async { [self] in load(digest, verify: verify) }
    }

    /// Loads the cached file with `digest` for every listed version it backs, publishes them, then lets versions they
    /// replace go.
    private func load(_ digest: [UInt8], verify: Bool) {
        let file = cache.file(digest)
        if verify, (try? FileDigest.sha256(of: file).digest) != digest {
            logger.warning("cached file does not match its digest; fetching it again", metadata: ["sha256": "\(digest.hexString)"])
            cache.remove(digest)
            _ = update { state in
                state.loading.remove(digest)
                return []
            }
            return
        }
        let keys = state.withLock { state in
            Set(state.catalogs.values.flatMap { $0.filter { $0.sha256 == digest && state.loaded[$0.key] != digest }.map(\.key) })
        }
        var published: [VersionKey] = []
        var failure: String?
        for key in keys.sorted() {
            do {
                let (servable, tolerated) = try loader.load(file: file, name: key.model, version: key.version, warmup: .generated(required: false))
                if let tolerated {
                    logger.warning("warm-up on generated inputs failed; serving anyway", metadata: ["version": "\(key)", "error": "\(tolerated)"])
                }
                registry.publish(servable)
                published.append(key)
                logger.notice("version ready", metadata: ["version": "\(key)", "sha256": "\(digest.hexString.prefix(16))"])
            } catch {
                failure = error.message
                logger.error("version failed to load", metadata: ["version": "\(key)", "error": "\(error.message)"])
            }
        }
        _ = update { state in
            state.loading.remove(digest)
            for key in published { state.loaded[key] = digest }
            if let failure { state.failed[digest] = failure }
            unloadUnlisted(&state)
            return []
        }
    }
}
