import DequeModule

/// Predict requests waiting for a worker, oldest first, bounded by count and payload bytes.
///
/// Counts requests per batch key (so the scheduler knows when a batch is full) and tracks the earliest deadline (so
/// expired requests are answered when their deadline passes, not when a worker frees up). Owned by the broker core.
struct RequestQueue {
    let capacity: Int
    let byteLimit: Int
    private var items = Deque<WorkItem>()
    private(set) var bytes = 0
    private var perKey: [BatchKey: Int] = [:]
    /// No queued request expires before this (it may be earlier than the real earliest after removals).
    private var earliestDeadline: UInt64 = .max

    init(capacity: Int, byteLimit: Int) {
        self.capacity = capacity
        self.byteLimit = byteLimit
    }

    var count: Int { items.count }
    var isEmpty: Bool { items.isEmpty }
    var oldest: WorkItem? { items.first }

    /// Requests queued under `key`.
    func queued(_ key: BatchKey) -> Int { perKey[key, default: 0] }

    /// Requests waiting per model (every version and label together).
    var countsByModel: [String: Int] {
        perKey.reduce(into: [:]) { counts, entry in counts[entry.key.model, default: 0] += entry.value }
    }

    /// Whether a request of `payloadBytes` fits within both bounds.
    func hasRoom(for payloadBytes: Int) -> Bool {
        items.count < capacity && bytes + payloadBytes <= byteLimit
    }

    /// Appends a request (the caller checked `hasRoom`).
    mutating func append(_ item: WorkItem) {
        items.append(item)
        added(item)
    }

    /// Puts requests back at the front, in their order (a worker that held them died or could not be reached).
    /// Not bounded: they were accepted once and are never dropped.
    mutating func prepend(_ requeued: [WorkItem]) {
        for item in requeued.reversed() {
            items.prepend(item)
            added(item)
        }
    }

    /// Takes up to `limit` requests under `key`, oldest first (at least one when any is queued).
    mutating func take(_ key: BatchKey, limit: Int) -> [WorkItem] {
        var taken: [WorkItem] = []
        var index = items.startIndex
        while taken.count < max(1, limit), index < items.endIndex {
            if items[index].batchKey == key {
                let item = items.remove(at: index)
                removed(item)
                taken.append(item)
            } else {
                index += 1
            }
        }
        return taken
    }

    /// Removes and returns every request whose deadline is at or before `now`.
    mutating func removeExpired(now: UInt64) -> [WorkItem] {
        guard now >= earliestDeadline else { return [] }
        var expired: [WorkItem] = []
        var kept = Deque<WorkItem>()
        earliestDeadline = .max
        for item in items {
            if let deadline = item.deadline, deadline <= now {
                expired.append(item)
                removed(item)
            } else {
                kept.append(item)
                if let deadline = item.deadline { earliestDeadline = min(earliestDeadline, deadline) }
            }
        }
        items = kept
        return expired
    }

    /// When the next sweep for expired requests is due (`.max`: none has a deadline).
    var nextExpiry: UInt64 { earliestDeadline }

    /// Empties the queue, returning what it held, oldest first.
    mutating func removeAll() -> [WorkItem] {
        let all = Array(items)
        items.removeAll()
        perKey.removeAll()
        bytes = 0
        earliestDeadline = .max
        return all
    }

    private mutating func added(_ item: WorkItem) {
        bytes += item.payload.count
        perKey[item.batchKey, default: 0] += 1
        if let deadline = item.deadline { earliestDeadline = min(earliestDeadline, deadline) }
    }

    private mutating func removed(_ item: WorkItem) {
        bytes -= item.payload.count
        let key = item.batchKey
        perKey[key, default: 1] -= 1
        if perKey[key] == 0 { perKey[key] = nil }
    }
}
