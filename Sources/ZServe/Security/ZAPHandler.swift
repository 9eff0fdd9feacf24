import Logging
import ZeroMQ

/// libzmq's authentication hook (ZAP, RFC 27) for the server's context: a REP socket on `inproc://zeromq.zap.01`
/// that libzmq asks, for every new CURVE connection, whether the client's public key may connect.
///
/// Each endpoint's sockets carry a ZAP domain (`admin`, `frontend`, `workers`) naming the allow-list to check. A
/// refused key is logged with its public key and address. Runs on its own thread (`run`) until the context shuts
/// down; it must be bound before any CURVE socket binds, since libzmq lets every key in when no handler is bound.
final class ZAPHandler {
    static let endpoint = "inproc://zeromq.zap.01"
    private let socket: Socket
    private let allowed: [String: AllowedKeys]
    private let logger: Logger

    /// Binds the handler's socket. Throws when it cannot be bound (e.g. another handler in the context).
    init(context: Context, allowed: [String: AllowedKeys], logger: Logger) throws {
        socket = try Socket(context: context, type: .reply)
        try socket.bind(Self.endpoint)
        self.allowed = allowed
        self.logger = logger
        for (domain, keys) in allowed {
            logger.info("CURVE authentication", metadata: [
                "endpoint": "\(domain)", "directory": "\(keys.directory.path)", "keys": "\(keys.reload())",
            ])
        }
    }

    /// Answers authentication requests until the context shuts down.
    func run() throws {
        defer { socket.close() }
        do {
            while let request = try socket.receive() {
                _ = try socket.send(answer(request))
            }
        } catch let error as ZMQError where error.isContextTerminated {
            return
        }
    }

    /// A ZAP reply: version, request id, status code, status text, user id, metadata.
    func answer(_ frames: [[UInt8]]) -> [[UInt8]] {
        func reply(_ requestID: [UInt8], _ code: String, _ text: String, user: String = "") -> [[UInt8]] {
            [Array("1.0".utf8), requestID, Array(code.utf8), Array(text.utf8), Array(user.utf8), []]
        }
        guard frames.count >= 6, frames[0] == Array("1.0".utf8) else {
            return reply(frames.count > 1 ? frames[1] : [], "500", "malformed ZAP request")
        }
        let requestID = frames[1]
        let domain = String(decoding: frames[2], as: UTF8.self)
        let address = String(decoding: frames[3], as: UTF8.self)
        let mechanism = String(decoding: frames[5], as: UTF8.self)
        guard mechanism == "CURVE", frames.count >= 7, let key = CurveKeyPair.z85Encode(frames[6]) else {
            logger.warning("connection refused: not CURVE", metadata: ["endpoint": "\(domain)", "address": "\(address)", "mechanism": "\(mechanism)"])
            return reply(requestID, "400", "CURVE required")
        }
        guard let keys = allowed[domain] else {
            return reply(requestID, "400", "no allow-list for this endpoint")
        }
        guard let name = keys.name(of: key) else {
            logger.warning("connection refused: unknown key", metadata: [
                "endpoint": "\(domain)", "address": "\(address)", "public_key": "\(key)",
            ])
            return reply(requestID, "400", "key not allowed")
        }
        logger.info("client authenticated", metadata: ["endpoint": "\(domain)", "address": "\(address)", "key_name": "\(name)"])
        return reply(requestID, "200", "OK", user: name)
    }

    /// Re-reads every allow-list (SIGHUP).
    static func reload(_ allowed: [String: AllowedKeys], logger: Logger) {
        for (domain, keys) in allowed {
            logger.notice("allowed keys re-read", metadata: ["endpoint": "\(domain)", "keys": "\(keys.reload())"])
        }
    }
}

/// The ZAP domains of the server's endpoints: which allow-list a connection is checked against.
enum ZAPDomain {
    static let admin = "admin"
    static let frontend = "frontend"
    static let workers = "workers"
}
