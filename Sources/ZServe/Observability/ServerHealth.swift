import Synchronization

/// What the probes report: whether the broker serves, and how many workers it has (the broker updates it).
///
/// Thread-safe (atomics).
public final class ServerHealth: Sendable {
    private let serving = Atomic<Bool>(false)
    private let workers = Atomic<Int>(0)

    public init() {}

    /// Whether the broker loop is running and accepting requests.
    public var isServing: Bool { serving.load(ordering: .relaxed) }
    /// Workers connected to the broker (local and remote).
    public var workerCount: Int { workers.load(ordering: .relaxed) }

    func setServing(_ value: Bool) { serving.store(value, ordering: .relaxed) }
    func setWorkers(_ count: Int) { workers.store(count, ordering: .relaxed) }

    /// Readiness as `/readyz` and the ServerReady RPC report it: serving, with a worker, and every model the registry
    /// knows has an available version. Returns the reasons it is not ready (empty when ready).
    public func unreadiness(models: ModelRegistry) -> [String] {
        Self.unreadiness(serving: isServing, workers: workerCount, models: models)
    }

    /// The reasons a server that is `serving` (or not) with `workers` workers and `models` is not ready; empty when
    /// ready. The one rule behind `/readyz` and the ServerReady RPC.
    static func unreadiness(serving: Bool, workers: Int, models: ModelRegistry) -> [String] {
        var reasons: [String] = []
        if !serving { reasons.append("the server is not serving") }
        if workers == 0 { reasons.append("no worker is connected") }
        for snapshot in models.snapshots() where snapshot.defaultVersion == nil {
            let states = snapshot.versions.map { "\($0.version) \($0.state.rawValue)" }.joined(separator: ", ")
            reasons.append("model '\(snapshot.name)' has no available version (\(states.isEmpty ? "none" : states))")
        }
        return reasons
    }
}
