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

    /// An idle worker to hand requests to, most recently idle first (its caches are warm).
    mutating func takeIdle() -> ID? { idle.popLast() }

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
