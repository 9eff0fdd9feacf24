import ServingProtocol
import ZeroMQ

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
    let envelope: PackedFrames
    let method: Method
    /// The request message's bytes (a view of the buffer it arrived in).
    let payload: ArraySlice<UInt8>
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
    let envelope: PackedFrames
    let status: ArraySlice<UInt8>
    let response: ArraySlice<UInt8>
}

/// The messages between the broker and its workers, in the spirit of the Majordomo worker protocol.
///
/// Frames (after the ROUTER's routing id on the broker side): [command][arguments...]. Requests and replies travel
/// packed into one frame each — work `[2][item]`, batch `[6][item][item]...`, result `[3][reply]`, results
/// `[7][reply][reply]...`, each field described at `append(_:to:)` — so a request costs one message, not one per
/// field, and the receiver views the payload and the envelope in place. The same framing runs over inproc for worker
/// threads and over tcp for workers on other hosts.
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
    case result(origin: Origin, envelope: PackedFrames, status: ArraySlice<UInt8>, response: ArraySlice<UInt8>)
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

    /// The version of this framing a worker announces in `ready`; the broker ignores a worker announcing another
    /// (one of an earlier release), so it is never handed work it would not read. 2: requests and replies packed.
    static let protocolVersion: UInt8 = 2

    /// Most routing frames an envelope may carry.
    static let maximumEnvelopeFrames = Envelope.maximumRoutingFrames

    enum Command: UInt8 {
        case ready = 1, work = 2, result = 3, disconnect = 4, heartbeat = 5, batch = 6, results = 7
        case catalog = 8, fetch = 9, chunk = 10, fetchFailed = 11, have = 12, missing = 13
    }

    /// The message's frames (after the ROUTER's routing id on the broker side).
    var frames: [[UInt8]] {
        if let packedFrame { return [packedFrame] }
        switch self {
        case .ready(let heartbeats):
            return [[Command.ready.rawValue], [heartbeats ? 1 : 0], [Self.protocolVersion]]
        case .heartbeat:
            return [[Command.heartbeat.rawValue]]
        case .disconnect:
            return [[Command.disconnect.rawValue]]
        case .catalog, .fetch, .chunk, .fetchFailed, .have, .missing:
            return distributionFrames
        case .work, .batch, .result, .results:
            preconditionFailure("packed above")
        }
    }

    /// The one frame a request or reply message (work, batch, result, results) travels in; nil for the others.
    var packedFrame: [UInt8]? {
        switch self {
        case .work(let item):
            Self.packed(.work, item)
        case .batch(let items):
            Self.packed(.batch, size: items.reduce(0) { $0 + Self.packedSize($1) }) { bytes in
                for item in items { Self.append(item, to: &bytes) }
            }
        case .result(let origin, let envelope, let status, let response):
            Self.packed(.result, WorkResult(origin: origin, envelope: envelope, status: status, response: response))
        case .results(let results):
            Self.packed(.results, size: results.reduce(0) { $0 + Self.packedSize($1) }) { bytes in
                for result in results { Self.append(result, to: &bytes) }
            }
        default:
            nil
        }
    }

    /// `command`, then what `write` appends, in one buffer of exactly `1 + size` bytes.
    private static func packed(_ command: Command, size: Int, write: (inout [UInt8]) -> Void) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(1 + size)
        bytes.append(command.rawValue)
        write(&bytes)
        return bytes
    }

    private static func packed(_ command: Command, _ item: WorkItem) -> [UInt8] {
        packed(command, size: packedSize(item)) { append(item, to: &$0) }
    }

    private static func packed(_ command: Command, _ result: WorkResult) -> [UInt8] {
        packed(command, size: packedSize(result)) { append(result, to: &$0) }
    }

    private static func packedSize(_ item: WorkItem) -> Int {
        1 + 16 + 1 + item.method.frame.count + 4 + item.envelope.bytes.count + 4 + item.payload.count
    }

    private static func packedSize(_ result: WorkResult) -> Int {
        1 + 4 + result.envelope.bytes.count + 4 + result.status.count + 4 + result.response.count
    }

    /// Appends `[origin 1][age 8][version 8][method length 1][method][envelope length 4][envelope][payload length 4]
    /// [payload]`: the request's age in nanoseconds now, not the broker's arrival time, because a worker on another
    /// host has another monotonic clock. The receiver turns the age back into an arrival time on its own clock
    /// (`workItem`), so deadlines hold across hosts; the time in transit is not counted. Integers are little-endian;
    /// the envelope is `PackedFrames`' encoding.
    private static func append(_ item: WorkItem, to bytes: inout [UInt8]) {
        bytes.append(item.origin.rawValue)
        let now = MonotonicClock.nanoseconds
        bytes.appendLittleEndian(now > item.receivedAt ? now - item.receivedAt : 0)
        bytes.appendLittleEndian(UInt64(bitPattern: item.version))
        let method = item.method.frame
        bytes.append(UInt8(method.count))
        bytes += method
        PackedFrames.appendLength(item.envelope.bytes.count, to: &bytes)
        bytes += item.envelope.bytes
        PackedFrames.appendLength(item.payload.count, to: &bytes)
        bytes += item.payload
    }

    /// Appends `[origin 1][envelope length 4][envelope][status length 4][status][response length 4][response]`.
    private static func append(_ result: WorkResult, to bytes: inout [UInt8]) {
        bytes.append(result.origin.rawValue)
        PackedFrames.appendLength(result.envelope.bytes.count, to: &bytes)
        bytes += result.envelope.bytes
        PackedFrames.appendLength(result.status.count, to: &bytes)
        bytes += result.status
        PackedFrames.appendLength(result.response.count, to: &bytes)
        bytes += result.response
    }

    /// Parses frames from a peer; nil for anything malformed (a broken peer is ignored, never trusted).
    init?(frames: [[UInt8]]) {
        guard let first = frames.first, let byte = first.first, let command = Command(rawValue: byte) else { return nil }
        switch command {
        case .ready where frames.count == 3 && first.count == 1 && frames[1].count == 1 && frames[2] == [Self.protocolVersion]:
            self = .ready(heartbeats: frames[1][0] != 0)
        case .heartbeat where frames.count == 1 && first.count == 1:
            self = .heartbeat
        case .disconnect where frames.count == 1 && first.count == 1:
            self = .disconnect
        case .work, .batch, .result, .results:
            guard frames.count == 1 else { return nil }
            self.init(command, packed: first[...])
        case .catalog, .fetch, .chunk, .fetchFailed, .have, .missing:
            guard first.count == 1, let message = Self(distribution: command, frames) else { return nil }
            self = message
        default:
            return nil
        }
    }

    /// Parses a message received as packed frames; requests and replies are read in place (payloads, envelopes
    /// and replies are views of the received buffer).
    init?(packed: PackedFrames) {
        var frames = packed.makeIterator()
        guard let first = frames.next(), let byte = first.first, let command = Command(rawValue: byte) else { return nil }
        switch command {
        case .work, .batch, .result, .results:
            guard frames.next() == nil else { return nil }
            self.init(command, packed: first)
        default:
            self.init(frames: packed.frames)
        }
    }

    /// Reads a request or reply message's one frame (`command` first).
    private init?(_ command: Command, packed frame: ArraySlice<UInt8>) {
        var reader = PackedReader(bytes: frame.dropFirst())
        switch command {
        case .work:
            guard let item = reader.workItem(), reader.isAtEnd else { return nil }
            self = .work(item)
        case .batch:
            var items: [WorkItem] = []
            while !reader.isAtEnd {
                guard let item = reader.workItem() else { return nil }
                items.append(item)
            }
            guard !items.isEmpty else { return nil }
            self = .batch(items)
        case .result:
            guard let result = reader.workResult(), reader.isAtEnd else { return nil }
            self = .result(origin: result.origin, envelope: result.envelope, status: result.status, response: result.response)
        case .results:
            var results: [WorkResult] = []
            while !reader.isAtEnd {
                guard let result = reader.workResult() else { return nil }
                results.append(result)
            }
            guard !results.isEmpty else { return nil }
            self = .results(results)
        default:
            return nil
        }
    }
}

/// Reads the fields of a packed work or result message in order, as views of its bytes; every read checks the bytes
/// left first, and nil means the message is malformed.
private struct PackedReader {
    let bytes: ArraySlice<UInt8>
    var position: Int

    init(bytes: ArraySlice<UInt8>) {
        self.bytes = bytes
        position = bytes.startIndex
    }

    var isAtEnd: Bool { position == bytes.endIndex }

    mutating func take(_ count: Int) -> ArraySlice<UInt8>? {
        guard count >= 0, bytes.endIndex - position >= count else { return nil }
        defer { position += count }
        return bytes[position..<(position + count)]
    }

    mutating func byte() -> UInt8? {
        guard position < bytes.endIndex else { return nil }
        defer { position += 1 }
        return bytes[position]
    }

    /// A little-endian integer of `count` bytes.
    mutating func integer(bytes count: Int) -> UInt64? {
        guard bytes.endIndex - position >= count else { return nil }
        var value: UInt64 = 0
        var index = position + count
        while index > position {
            index -= 1
            value = value << 8 | UInt64(bytes[index])
        }
        position += count
        return value
    }

    /// A 4-byte length then that many bytes.
    mutating func lengthPrefixed() -> ArraySlice<UInt8>? {
        guard let length = integer(bytes: 4) else { return nil }
        return take(Int(length))
    }

    /// An envelope of 1 ... `WorkerMessage.maximumEnvelopeFrames` frames.
    mutating func envelope() -> PackedFrames? {
        guard let bytes = lengthPrefixed(), let envelope = PackedFrames(validating: bytes),
              (1...WorkerMessage.maximumEnvelopeFrames).contains(envelope.count)
        else { return nil }
        return envelope
    }

    /// A work item (`WorkerMessage.append(_:to:)` for `WorkItem`); its arrival time is now minus its age on this
    /// process's clock.
    mutating func workItem() -> WorkItem? {
        guard let origin = byte().flatMap(Origin.init(rawValue:)), let age = integer(bytes: 8),
              let version = integer(bytes: 8), let methodLength = byte(), let methodFrame = take(Int(methodLength)),
              let method = Method(frame: methodFrame), let envelope = envelope(), let payload = lengthPrefixed()
        else { return nil }
        let now = MonotonicClock.nanoseconds
        var item = WorkItem(origin: origin, envelope: envelope, method: method, payload: payload, receivedAt: now > age ? now - age : 0)
        item.version = Int64(bitPattern: version)
        return item
    }

    /// A reply (`WorkerMessage.append(_:to:)` for `WorkResult`).
    mutating func workResult() -> WorkResult? {
        guard let origin = byte().flatMap(Origin.init(rawValue:)), let envelope = envelope(),
              let status = lengthPrefixed(), let response = lengthPrefixed()
        else { return nil }
        return WorkResult(origin: origin, envelope: envelope, status: status, response: response)
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
