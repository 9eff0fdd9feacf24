import ServingProtocol

/// Which broker socket a request came in on, so its reply goes back there and its permissions are known.
enum Origin: UInt8, Sendable, Equatable {
    case frontend = 0
    case admin = 1
}

/// A request handed to a worker.
struct WorkItem: Equatable {
    let origin: Origin
    /// The routing frames before the empty delimiter: the client's routing id, then any frames added on the way
    /// (a REQ_CORRELATE request id, proxies). Replies carry them back unchanged.
    let envelope: [[UInt8]]
    let method: Method
    let payload: [UInt8]
    /// When the broker received the request (`MonotonicClock`), for deadlines.
    let receivedAt: UInt64
    /// What the broker peeked from a Predict payload (id, model spec, timeout); empty for other methods and on the
    /// worker side, which decodes the payload itself.
    var header = PredictHeader()
    /// The version the broker chose to serve it (the request's model spec resolved: version, label, canary,
    /// default); 0 when not resolved (other methods, or a payload whose model name could not be read, which the
    /// worker decodes and answers itself).
    var version: Int64 = 0

    /// Which queued requests may go to a worker together: those for the same model and resolved version.
    var batchKey: BatchKey { BatchKey(model: header.model, version: version) }

    /// The version it was routed to, if it was.
    var versionKey: VersionKey? { version > 0 ? VersionKey(model: header.model, version: version) : nil }

    /// When the request's timeout runs out (`receivedAt` + timeout), nil without one or when it cannot be represented.
    var deadline: UInt64? {
        guard header.timeoutMicroseconds > 0 else { return nil }
        let (timeout, overflow) = header.timeoutMicroseconds.multipliedReportingOverflow(by: 1000)
        let (deadline, late) = receivedAt.addingReportingOverflow(timeout)
        return overflow || late ? nil : deadline
    }
}

/// The batching identity of a Predict request as the broker sees it: requests routed to the same version may be
/// handed to one worker together. The worker then stacks into one run those that agree in every dimension but the
/// first (`PredictHandler`); the rest of a batch runs one by one.
struct BatchKey: Hashable, Sendable {
    let model: String
    /// The resolved version (`WorkItem.version`).
    let version: Int64
}

/// A worker's reply for one request.
struct WorkResult: Equatable {
    let origin: Origin
    let envelope: [[UInt8]]
    let status: [UInt8]
    let response: [UInt8]
}

/// The messages between the broker and its workers, in the spirit of the Majordomo worker protocol.
///
/// Frames (after the ROUTER's routing id on the broker side): [command][arguments...]; an envelope travels as its
/// frame count (one byte) followed by its frames. The same framing runs over inproc for worker threads and over tcp
/// for workers on other hosts.
enum WorkerMessage: Equatable {
    /// Worker → broker: ready for requests. A worker that `heartbeats` (one in another process) sends heartbeats and
    /// expects them; it is considered dead after `Heartbeat.liveness` silent intervals.
    case ready(heartbeats: Bool)
    /// Both ways: still alive (sent when nothing else was sent for a heartbeat interval).
    case heartbeat
    /// Broker → worker: several requests to serve together (dynamic batching).
    case batch([WorkItem])
    /// Worker → broker: the replies to a batch, in its order, then ready again.
    case results([WorkResult])
    /// Broker → worker: a request to serve.
    case work(WorkItem)
    /// Worker → broker: the reply for a client, then ready again.
    case result(origin: Origin, envelope: [[UInt8]], status: [UInt8], response: [UInt8])
    /// Both ways: the sender leaves (worker) or asks the worker to leave (broker).
    case disconnect
    /// Broker → remote worker: every version the server serves now (on join and whenever the set changes).
    case catalog([CatalogEntry])
    /// Remote worker → broker: send `length` bytes of the file with this digest from `offset`.
    case fetch(sha256: [UInt8], offset: UInt64, length: UInt32)
    /// Broker → remote worker: bytes of a file from `offset` (fewer than asked only at the end of the file).
    case chunk(sha256: [UInt8], offset: UInt64, bytes: [UInt8])
    /// Broker → remote worker: the file cannot be sent (no longer served, unreadable), and why.
    case fetchFailed(sha256: [UInt8], reason: String)
    /// Worker → broker: every version it has loaded, validated and warmed up, ready for requests (replaces the
    /// previous report).
    case have([VersionKey])
    /// Worker → broker: it cannot serve the work it was just given, routed to a version it does not have (any
    /// more); the broker routes those requests again. Also means ready again.
    case missing(VersionKey)

    /// Most routing frames an envelope may carry.
    static let maximumEnvelopeFrames = Envelope.maximumRoutingFrames

    enum Command: UInt8 {
        case ready = 1, work = 2, result = 3, disconnect = 4, heartbeat = 5, batch = 6, results = 7
        case catalog = 8, fetch = 9, chunk = 10, fetchFailed = 11, have = 12, missing = 13
    }

    /// The message's frames (after the ROUTER's routing id on the broker side), built in one array.
    var frames: [[UInt8]] {
        switch self {
        case .ready(let heartbeats):
            return [[Command.ready.rawValue], [heartbeats ? 1 : 0]]
        case .heartbeat:
            return [[Command.heartbeat.rawValue]]
        case .disconnect:
            return [[Command.disconnect.rawValue]]
        case .work(let item):
            var frames: [[UInt8]] = [[Command.work.rawValue]]
            Self.append(item, to: &frames)
            return frames
        case .batch(let items):
            var frames: [[UInt8]] = [[Command.batch.rawValue]]
            frames.reserveCapacity(1 + items.count * (5 + (items.first?.envelope.count ?? 1)))
            for item in items { Self.append(item, to: &frames) }
            return frames
        case .result(let origin, let envelope, let status, let response):
            var frames: [[UInt8]] = [[Command.result.rawValue]]
            Self.append(WorkResult(origin: origin, envelope: envelope, status: status, response: response), to: &frames)
            return frames
        case .results(let results):
            var frames: [[UInt8]] = [[Command.results.rawValue]]
            frames.reserveCapacity(1 + results.count * (4 + (results.first?.envelope.count ?? 1)))
            for result in results { Self.append(result, to: &frames) }
            return frames
        case .catalog, .fetch, .chunk, .fetchFailed, .have, .missing:
            return distributionFrames
        }
    }

    /// The one-byte frames (origin, envelope count), built once and shared rather than allocated per request.
    private static let byteFrames: [[UInt8]] = (0...255).map { [UInt8($0)] }

    /// Appends `[origin][count][envelope...][method][payload][age, version]`: the request's age in nanoseconds now,
    /// not the broker's arrival time, because a worker on another host has another monotonic clock. The receiver
    /// turns the age back into an arrival time on its own clock (`workItem`), so deadlines hold across hosts; the
    /// time in transit is not counted. The last frame is 16 bytes: age and resolved version, little-endian.
    private static func append(_ item: WorkItem, to frames: inout [[UInt8]]) {
        frames.append(byteFrames[Int(item.origin.rawValue)])
        frames.append(byteFrames[item.envelope.count])
        frames.append(contentsOf: item.envelope)
        frames.append(item.method.frame)
        frames.append(item.payload)
        let now = MonotonicClock.nanoseconds
        let age = now > item.receivedAt ? now - item.receivedAt : 0
        var meta = [UInt8]()
        meta.reserveCapacity(16)
        meta.appendLittleEndian(age)
        meta.appendLittleEndian(UInt64(bitPattern: item.version))
        frames.append(meta)
    }

    /// Appends `[origin][count][envelope...][status][response]`.
    private static func append(_ result: WorkResult, to frames: inout [[UInt8]]) {
        frames.append(byteFrames[Int(result.origin.rawValue)])
        frames.append(byteFrames[result.envelope.count])
        frames.append(contentsOf: result.envelope)
        frames.append(result.status)
        frames.append(result.response)
    }

    /// Parses frames from a peer; nil for anything malformed (a broken peer is ignored, never trusted).
    ///
    /// Walks the frames once with an index (a batch of n requests is O(n) frames, never copied per request).
    init?(frames: [[UInt8]]) {
        guard let first = frames.first, first.count == 1, let command = Command(rawValue: first[0]) else { return nil }
        var position = 1
        switch command {
        case .ready where frames.count == 2 && frames[1].count == 1:
            self = .ready(heartbeats: frames[1][0] != 0)
        case .heartbeat where frames.count == 1:
            self = .heartbeat
        case .disconnect where frames.count == 1:
            self = .disconnect
        case .work:
            guard let item = Self.workItem(frames, &position), position == frames.count else { return nil }
            self = .work(item)
        case .batch:
            var items: [WorkItem] = []
            while position < frames.count {
                guard let item = Self.workItem(frames, &position) else { return nil }
                items.append(item)
            }
            guard !items.isEmpty else { return nil }
            self = .batch(items)
        case .result:
            guard let result = Self.workResult(frames, &position), position == frames.count else { return nil }
            self = .result(origin: result.origin, envelope: result.envelope, status: result.status, response: result.response)
        case .results:
            var results: [WorkResult] = []
            while position < frames.count {
                guard let result = Self.workResult(frames, &position) else { return nil }
                results.append(result)
            }
            guard !results.isEmpty else { return nil }
            self = .results(results)
        case .catalog, .fetch, .chunk, .fetchFailed, .have, .missing:
            guard let message = Self(distribution: command, frames) else { return nil }
            self = message
        default:
            return nil
        }
    }

    /// Reads `[origin][count][envelope...][method][payload][age, version]` at `position`, moving past it; the
    /// item's arrival time is now minus its age on this process's clock.
    private static func workItem(_ frames: [[UInt8]], _ position: inout Int) -> WorkItem? {
        guard let (origin, envelope) = routing(frames, &position), frames.count - position >= 3,
              let method = Method(frame: frames[position]), frames[position + 2].count == 16
        else { return nil }
        let meta = frames[position + 2]
        let age = meta.littleEndianUInt64(at: 0)
        let now = MonotonicClock.nanoseconds
        let receivedAt = now > age ? now - age : 0
        var item = WorkItem(origin: origin, envelope: envelope, method: method, payload: frames[position + 1], receivedAt: receivedAt)
        item.version = Int64(bitPattern: meta.littleEndianUInt64(at: 8))
        position += 3
        return item
    }

    /// Reads `[origin][count][envelope...][status][response]` at `position`, moving past it.
    private static func workResult(_ frames: [[UInt8]], _ position: inout Int) -> WorkResult? {
        guard let (origin, envelope) = routing(frames, &position), frames.count - position >= 2 else { return nil }
        let result = WorkResult(origin: origin, envelope: envelope, status: frames[position], response: frames[position + 1])
        position += 2
        return result
    }

    /// Reads `[origin][count][envelope...]` at `position`, moving past it.
    private static func routing(_ frames: [[UInt8]], _ position: inout Int) -> (Origin, [[UInt8]])? {
        guard frames.count - position >= 2, frames[position].count == 1, let origin = Origin(rawValue: frames[position][0]),
              frames[position + 1].count == 1, case let count = Int(frames[position + 1][0]),
              (1...maximumEnvelopeFrames).contains(count), frames.count - position - 2 >= count
        else { return nil }
        let envelope = Array(frames[(position + 2)..<(position + 2 + count)])
        position += 2 + count
        return (origin, envelope)
    }
}

/// Paranoid-Pirate-style liveness between the broker and workers in other processes.
enum Heartbeat {
    /// How often each side sends a heartbeat when it has sent nothing else.
    static let interval: Duration = .seconds(1)
    /// Silent intervals after which the peer is considered dead.
    static let liveness = 3
    static var intervalNanoseconds: UInt64 { UInt64(interval / .nanoseconds(1)) }
    static var deadAfterNanoseconds: UInt64 { intervalNanoseconds * UInt64(liveness) }
}
