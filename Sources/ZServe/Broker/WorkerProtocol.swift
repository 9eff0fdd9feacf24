import ServingProtocol

/// Which broker socket a request came in on, so its reply goes back there and its permissions are known.
enum Origin: UInt8, Sendable {
    case frontend = 0
    case admin = 1
}

/// A request handed to a worker.
struct WorkItem {
    let origin: Origin
    /// The client's routing id on the origin socket.
    let client: [UInt8]
    let method: Method
    let payload: [UInt8]
    /// When the broker received the request (`MonotonicClock`), for deadlines.
    let receivedAt: UInt64
}

/// The messages between the broker and its workers, in the spirit of the Majordomo worker protocol.
///
/// Frames (after the ROUTER's routing id on the broker side): [command][arguments...]. The same framing runs over
/// inproc for worker threads and over tcp for workers on other hosts.
enum WorkerMessage {
    /// Worker → broker: ready for one more request.
    case ready
    /// Broker → worker: a request to serve.
    case work(WorkItem)
    /// Worker → broker: the reply for a client, then ready again.
    case result(origin: Origin, client: [UInt8], status: [UInt8], response: [UInt8])
    /// Broker → worker: finish and exit.
    case disconnect

    private enum Command: UInt8 {
        case ready = 1, work = 2, result = 3, disconnect = 4
    }

    var frames: [[UInt8]] {
        switch self {
        case .ready:
            [[Command.ready.rawValue]]
        case .work(let item):
            [[Command.work.rawValue], [item.origin.rawValue], item.client, item.method.frame, item.payload,
             withUnsafeBytes(of: item.receivedAt.littleEndian, Array.init)]
        case .result(let origin, let client, let status, let response):
            [[Command.result.rawValue], [origin.rawValue], client, status, response]
        case .disconnect:
            [[Command.disconnect.rawValue]]
        }
    }

    /// Parses frames from a peer; nil for anything malformed (a broken peer is ignored, never trusted).
    init?(frames: [[UInt8]]) {
        guard let first = frames.first, first.count == 1, let command = Command(rawValue: first[0]) else { return nil }
        switch command {
        case .ready where frames.count == 1:
            self = .ready
        case .disconnect where frames.count == 1:
            self = .disconnect
        case .work where frames.count == 6:
            guard frames[1].count == 1, let origin = Origin(rawValue: frames[1][0]),
                  let method = Method(frame: frames[3]), frames[5].count == 8
            else { return nil }
            let receivedAt = frames[5].withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
            self = .work(WorkItem(
                origin: origin, client: frames[2], method: method, payload: frames[4], receivedAt: receivedAt))
        case .result where frames.count == 5:
            guard frames[1].count == 1, let origin = Origin(rawValue: frames[1][0]) else { return nil }
            self = .result(origin: origin, client: frames[2], status: frames[3], response: frames[4])
        default:
            return nil
        }
    }
}
