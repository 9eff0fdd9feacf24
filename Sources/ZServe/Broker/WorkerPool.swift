/// The broker's view of its workers: who is connected, idle or busy with which requests, which are in other
/// processes (and when each was last heard from), and the local worker count asked for.
///
/// Local workers are threads the server starts; remote ones join over tcp and heartbeat. Scaling only starts and
/// retires local workers: an idle one leaves at once, a busy one after the requests it holds. Owned by the broker
/// core; it decides, the core turns decisions into messages.
struct WorkerPool {
    typealias ID = [UInt8]

    /// Requests a worker holds and when it was given them.
    struct Assignment {
        let items: [WorkItem]
        let dispatchedAt: UInt64
    }

    private(set) var members: Set<ID> = []
    private(set) var idle: [ID] = []
    private(set) var assignments: [ID: Assignment] = [:]
    /// Workers in other processes, with when each was last heard from.
    private(set) var remoteLastSeen: [ID: UInt64] = [:]
    /// The versions each remote worker reported ready (local workers share the server's registry and serve every
    /// available version), and on how many remote workers each version is ready.
    private(set) var ready: [ID: Set<VersionKey>] = [:]
    private var readyCounts: [VersionKey: Int] = [:]
    /// Local workers asked for; started but not yet announced; to retire once idle.
    private(set) var target: Int
    private(set) var starting: Int
    private(set) var retiring = 0

    /// A pool expecting `initial` local workers to announce themselves.
    init(initial: Int) {
        target = initial
        starting = initial
    }

    var count: Int { members.count }
    var localCount: Int { members.count - remoteLastSeen.count }
    var hasIdle: Bool { !idle.isEmpty }

    func isRemote(_ id: ID) -> Bool { remoteLastSeen[id] != nil }

    /// A worker announced itself ready (a remote one if it heartbeats).
    mutating func join(_ id: ID, remote: Bool, now: UInt64) {
        members.insert(id)
        if remote {
            remoteLastSeen[id] = now
        } else {
            starting = max(0, starting - 1)
        }
    }

    /// Any message from a remote worker proves it alive.
    mutating func heard(_ id: ID, now: UInt64) {
        if remoteLastSeen[id] != nil { remoteLastSeen[id] = now }
    }

    /// Whether local workers exist or are starting: they serve every version the server has available.
    var servesEverything: Bool { localCount + starting > 0 }

    /// Whether some remote worker has `key` ready.
    func isReadyRemotely(_ key: VersionKey) -> Bool { readyCounts[key, default: 0] > 0 }

    /// The newest version of `model` some remote worker has ready.
    func newestReadyRemotely(model: String) -> Int64? {
        readyCounts.keys.lazy.filter { $0.model == model }.map(\.version).max()
    }

    /// Whether worker `id` can serve requests routed to `key` (nil: not routed, any worker can).
    func canServe(_ id: ID, _ key: VersionKey?) -> Bool {
        guard let key, isRemote(id) else { return true }
        return ready[id]?.contains(key) == true
    }

    /// Whether an idle worker can serve `key`.
    func hasIdle(for key: VersionKey?) -> Bool { idle.contains { canServe($0, key) } }

    /// An idle worker that can serve `key`, most recently idle first (its caches are warm).
    mutating func takeIdle(for key: VersionKey?) -> ID? {
        guard let position = idle.lastIndex(where: { canServe($0, key) }) else { return nil }
        return idle.remove(at: position)
    }

    /// Replaces what remote worker `id` has ready.
    mutating func setReady(_ id: ID, _ keys: Set<VersionKey>) {
        guard isRemote(id) else { return }
        let previous = ready[id] ?? []
        for key in previous.subtracting(keys) { decrementReady(key) }
        for key in keys.subtracting(previous) { readyCounts[key, default: 0] += 1 }
        ready[id] = keys
    }

    /// Remote worker `id` turned out not to have `key` (any more).
    mutating func dropReady(_ id: ID, _ key: VersionKey) {
        if ready[id]?.remove(key) != nil { decrementReady(key) }
    }

    private mutating func decrementReady(_ key: VersionKey) {
        readyCounts[key, default: 0] -= 1
        if readyCounts[key]! <= 0 { readyCounts[key] = nil }
    }

    /// Records that `id` now holds `items`.
    mutating func assign(_ items: [WorkItem], to id: ID, now: UInt64) {
        assignments[id] = Assignment(items: items, dispatchedAt: now)
    }

    /// The worker finished what it held; nil when it held nothing (a late result from a worker given up on).
    mutating func finish(_ id: ID) -> Assignment? {
        assignments.removeValue(forKey: id)
    }

    /// A worker has nothing to do: true when it should retire (a pending scale-down of a local worker), else it is
    /// idle now.
    mutating func becameIdle(_ id: ID) -> Bool {
        if retiring > 0 && !isRemote(id) {
            retiring -= 1
            members.remove(id)
            return true
        }
        idle.append(id)
        return false
    }

    /// Drops a worker that left, died or could not be reached; returns the requests it held.
    mutating func forget(_ id: ID) -> [WorkItem] {
        members.remove(id)
        setReady(id, [])
        ready[id] = nil
        remoteLastSeen[id] = nil
        idle.removeAll { $0 == id }
        return assignments.removeValue(forKey: id)?.items ?? []
    }

    /// Remote workers silent for longer than `Heartbeat.deadAfterNanoseconds` at `now`.
    func silentRemotes(now: UInt64) -> [ID] {
        remoteLastSeen.filter { now &- $0.value > Heartbeat.deadAfterNanoseconds }.map(\.key)
    }

    var remotes: Dictionary<ID, UInt64>.Keys { remoteLastSeen.keys }

    /// Moves toward `wanted` local workers: returns how many to start and which idle ones to retire now; busy ones
    /// over the target retire when they finish.
    mutating func scale(to wanted: Int) -> (start: Int, retireNow: [ID]) {
        target = wanted
        let expected = localCount + starting - retiring
        if wanted > expected {
            // Cancel pending retirements first, then start what is still missing.
            let kept = min(retiring, wanted - expected)
            retiring -= kept
            let missing = wanted - expected - kept
            starting += missing
            return (missing, [])
        }
        var excess = expected - wanted
        var retired: [ID] = []
        while excess > 0, let position = idle.lastIndex(where: { !isRemote($0) }) {
            let id = idle.remove(at: position)
            members.remove(id)
            retired.append(id)
            excess -= 1
        }
        retiring += excess
        return (0, retired)
    }
}
