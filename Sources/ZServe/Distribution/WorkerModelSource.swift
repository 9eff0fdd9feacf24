import Foundation
import Logging

/// Where a worker process's models come from, as its worker loops (one per server connection) see it: which
/// versions are ready for each server, and the model-distribution messages exchanged with it.
///
/// Thread-safe: every worker loop calls it from its own thread.
protocol WorkerModelSource: Sendable {
    /// Registers a connection to a server; returns the number the other calls take.
    func attach() -> Int
    /// Takes a distribution message (catalog, chunk, fetch failure) from the connection's server; returns what to
    /// send back.
    func receive(_ message: WorkerMessage, connection: Int) -> [WorkerMessage]
    /// Messages the connection should send now (fetches to start or continue); empty when there is nothing to do.
    func outbox(connection: Int) -> [WorkerMessage]
    /// The connection's socket was replaced (a reconnect): what it was fetching is abandoned.
    func reset(connection: Int)
    /// Versions loaded, validated and warmed up for the connection's server, sorted.
    func ready(connection: Int) -> [VersionKey]
    /// Changes whenever `ready` may have changed.
    var generation: UInt64 { get }
    /// Whether fetches or loads are under way (worker loops then look at `outbox` and `ready` often).
    var isSettling: Bool { get }
}

/// Models a worker loads from its own repository (shared with or synced from the server's): every available version
/// is reported ready to every server; catalogs are ignored.
struct RepositoryModels: WorkerModelSource {
    let registry: ModelRegistry

    func attach() -> Int { 0 }
    func receive(_ message: WorkerMessage, connection: Int) -> [WorkerMessage] { [] }
    func outbox(connection: Int) -> [WorkerMessage] { [] }
    func reset(connection: Int) {}
    func ready(connection: Int) -> [VersionKey] { registry.availableKeys() }
    var generation: UInt64 { registry.generation }
    var isSettling: Bool { false }
}

/// How a `zserve worker` process gets its models: fetched from the servers it serves into a local cache (the
/// normal case), or loaded from a repository of its own.
public struct WorkerModels: Sendable {
    let source: any WorkerModelSource

    /// Versions fetched from each server into `directory` (`VersionCache`), loaded into `registry` and warmed up;
    /// the set follows each server's catalog.
    ///
    /// - Throws: when the cache directory cannot be created.
    public static func cache(
        directory: URL, registry: ModelRegistry, limits: ModelFileLimits = .init(), logger: Logger
    ) throws -> WorkerModels {
        WorkerModels(source: CachedModels(
            registry: registry, cache: try VersionCache(directory: directory), loader: ONNXLoader(limits: limits), logger: logger))
    }

    /// Every version `registry` holds (loaded from a repository the worker polls) is ready for every server.
    public static func repository(registry: ModelRegistry) -> WorkerModels {
        WorkerModels(source: RepositoryModels(registry: registry))
    }
}
