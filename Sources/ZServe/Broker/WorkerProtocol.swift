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

    /// Which queued requests may go to a worker together: those naming the same model, version and label.
    var batchKey: BatchKey { BatchKey(model: header.model, version: header.version, label: header.label) }

    /// When the request's timeout runs out (`receivedAt` + timeout), nil without one or when it cannot be represented.
    var deadline: UInt64? {
        guard header.timeoutMicroseconds > 0 else { return nil }
        let (timeout, overflow) = header.timeoutMicroseconds.multipliedReportingOverflow(by: 1000)
        let (deadline, late) = receivedAt.addingReportingOverflow(timeout)
        return overflow || late ? nil : deadline
    }
}

/// The batching identity of a Predict request as the broker sees it: requests with equal keys may be handed to one
/// worker together. The worker then stacks into one run those that resolve to the same version and agree in every
/// dimension but the first (`PredictHandler`); the rest of a batch runs one by one.
struct BatchKey: Hashable, Sendable {
    let model: String
    let version: Int64
    let label: String
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

    /// Most routing frames an envelope may carry.
    static let maximumEnvelopeFrames = Envelope.maximumRoutingFrames

    private enum Command: UInt8 {
        case ready = 1, work = 2, result = 3, disconnect = 4, heartbeat = 5, batch = 6, results = 7
    }

    var frames: [[UInt8]] {
        switch self {
        case .ready(let heartbeats):
            [[Command.ready.rawValue], [heartbeats ? 1 : 0]]
        case .heartbeat:
            [[Command.heartbeat.rawValue]]
        case .batch(let items):
            [[Command.batch.rawValue]] + items.flatMap { Self.work($0).frames.dropFirst() }
        case .results(let results):
            [[Command.results.rawValue]] + results.flatMap {
                Self.result(origin: $0.origin, envelope: $0.envelope, status: $0.status, response: $0.response).frames.dropFirst()
            }
        case .work(let item):
            [[Command.work.rawValue], [item.origin.rawValue], [UInt8(item.envelope.count)]] + item.envelope
                + [item.method.frame, item.payload, withUnsafeBytes(of: item.receivedAt.littleEndian, Array.init)]
        case .result(let origin, let envelope, let status, let response):
            [[Command.result.rawValue], [origin.rawValue], [UInt8(envelope.count)]] + envelope + [status, response]
        case .disconnect:
            [[Command.disconnect.rawValue]]
        }
    }

    /// Parses frames from a peer; nil for anything malformed (a broken peer is ignored, never trusted).
    init?(frames: [[UInt8]]) {
        guard let first = frames.first, first.count == 1, let command = Command(rawValue: first[0]) else { return nil }
        switch command {
        case .ready where frames.count == 2 && frames[1].count == 1:
            self = .ready(heartbeats: frames[1][0] != 0)
        case .heartbeat where frames.count == 1:
            self = .heartbeat
        case .batch:
            var items: [WorkItem] = []
            var rest = Array(frames.dropFirst())
            while !rest.isEmpty {
                guard let (origin, envelope, tail) = Self.routing([[Command.work.rawValue]] + rest), tail.count >= 3,
                      let method = Method(frame: tail[0]), tail[2].count == 8
                else { return nil }
                let receivedAt = tail[2].withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
                items.append(WorkItem(origin: origin, envelope: envelope, method: method, payload: tail[1], receivedAt: receivedAt))
                rest = Array(tail.dropFirst(3))
            }
            guard !items.isEmpty else { return nil }
            self = .batch(items)
        case .results:
            var results: [WorkResult] = []
            var rest = Array(frames.dropFirst())
            while !rest.isEmpty {
                guard let (origin, envelope, tail) = Self.routing([[Command.result.rawValue]] + rest), tail.count >= 2 else {
                    return nil
                }
                results.append(WorkResult(origin: origin, envelope: envelope, status: tail[0], response: tail[1]))
                rest = Array(tail.dropFirst(2))
            }
            guard !results.isEmpty else { return nil }
            self = .results(results)
        case .disconnect where frames.count == 1:
            self = .disconnect
        case .work:
            guard let (origin, envelope, rest) = Self.routing(frames), rest.count == 3,
                  let method = Method(frame: rest[0]), rest[2].count == 8
            else { return nil }
            let receivedAt = rest[2].withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
            self = .work(WorkItem(origin: origin, envelope: envelope, method: method, payload: rest[1], receivedAt: receivedAt))
        case .result:
            guard let (origin, envelope, rest) = Self.routing(frames), rest.count == 2 else { return nil }
            self = .result(origin: origin, envelope: envelope, status: rest[0], response: rest[1])
        default:
            return nil
        }
    }

    /// Splits [command][origin][count][envelope...][rest...] into origin, envelope and rest.
    private static func routing(_ frames: [[UInt8]]) -> (Origin, [[UInt8]], [[UInt8]])? {
        guard frames.count >= 3, frames[1].count == 1, let origin = Origin(rawValue: frames[1][0]),
              frames[2].count == 1, case let count = Int(frames[2][0]),
              (1...maximumEnvelopeFrames).contains(count), frames.count >= 3 + count
        else { return nil }
        return (origin, Array(frames[3..<(3 + count)]), Array(frames[(3 + count)...]))
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
