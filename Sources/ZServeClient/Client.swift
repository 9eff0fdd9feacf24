import Foundation
import ServingProtocol
import SwiftProtobuf
import ZeroMQ

/// A blocking ZServe client over one REQ socket: one request at a time, to one server or spread over several.
///
/// Not thread-safe (it owns a socket); use one per thread. When a reply does not arrive within the timeout the socket
/// is closed and reopened (a REQ socket cannot send again before it has received), and the call throws `.timeout`.
///
/// Retry policy (the C and Python clients'): with several endpoints, requests go round-robin to the servers that are
/// connected. When a connection that had completed its handshake is lost while a read-only call (Predict,
/// ModelMetadata, ServerReady, ModelReady, ListModels, ModelStatus — all idempotent) waits, the call is sent again at
/// once to a server still connected, up to `retries` times; the timeout covers all attempts. Calls that change
/// serving state (the ModelControl methods) are never resent. Once a call cannot be resent, a lost connection does
/// not end it — the lost one may not be the server holding it — it waits for its reply until the timeout. A refused
/// handshake is not a lost connection; it names the failure (UNAUTHENTICATED) of a call that times out.
public final class Client {
    /// Why a call failed.
    public enum Failure: Error, CustomStringConvertible {
        /// The server answered with a non-OK status.
        case status(ServingError)
        /// No reply within the timeout.
        case timeout(milliseconds: Int32)
        /// The reply was not [status][response] or did not decode.
        case malformedReply(String)

        public var description: String {
            switch self {
            case .status(let error): "\(error)"
            case .timeout(let milliseconds): "DEADLINE_EXCEEDED: no reply within \(milliseconds) ms"
            case .malformedReply(let detail): "INTERNAL: malformed reply: \(detail)"
            }
        }

        /// The gRPC code name: the server's, or DEADLINE_EXCEEDED (no reply in time) / INTERNAL (a malformed reply) for
        /// local failures — the names the Python and C clients use.
        public var codeName: String {
            switch self {
            case .status(let error): error.code.name
            case .timeout: "DEADLINE_EXCEEDED"
            case .malformedReply: "INTERNAL"
            }
        }
    }

    /// The first endpoint (see `endpoints`).
    public var endpoint: String { endpoints[0] }
    public let endpoints: [String]
    public let timeoutMilliseconds: Int32
    /// How often a read-only call is resent after its connection was lost.
    public let retries: Int
    private let context: Context
    private let curve: CurveClientCredentials?
    private var socket: Socket
    /// Tells a refused key or a missing CURVE from a silent server when a call times out.
    private var monitor: HandshakeMonitor

    /// Connects to a ZServe frontend (or admin) endpoint; the connection is made in the background.
    ///
    /// - Parameter curve: credentials for an endpoint that requires CurveZMQ (`zserve serve --server-key`). A call
    ///   whose connection the server refused (unknown key, or no keys where CURVE is required) fails with
    ///   UNAUTHENTICATED once its timeout passes.
    public convenience init(
        endpoint: String, timeoutMilliseconds: Int32 = 30_000, context: Context? = nil, curve: CurveClientCredentials? = nil
    ) throws {
        try self.init(endpoints: [endpoint], timeoutMilliseconds: timeoutMilliseconds, context: context, curve: curve)
    }

    /// Connects to one or several servers (the same service on each); see the type's retry policy.
    ///
    /// - Precondition: `endpoints` is not empty.
    public init(
        endpoints: [String], timeoutMilliseconds: Int32 = 30_000, context: Context? = nil,
        curve: CurveClientCredentials? = nil, retries: Int = 2
    ) throws {
        precondition(!endpoints.isEmpty, "a client needs an endpoint")
        self.endpoints = endpoints
        self.timeoutMilliseconds = timeoutMilliseconds
        self.retries = max(0, retries)
        self.context = try context ?? Context()
        self.curve = curve
        (socket, monitor) = try Self.openSocket(self.context, endpoints, timeoutMilliseconds, curve)
    }

    deinit { socket.close() }

    private static func openSocket(
        _ context: Context, _ endpoints: [String], _ timeout: Int32, _ curve: CurveClientCredentials?
    ) throws -> (Socket, HandshakeMonitor) {
        let socket = try Socket(context: context, type: .request)
        try socket.setReceiveTimeout(timeout)
        try socket.setSendTimeout(timeout)
        try socket.setImmediate(true)
        try curve?.apply(to: socket)
        let monitor = try HandshakeMonitor(watching: socket, context: context)
        for endpoint in endpoints { try socket.connect(endpoint) }
        return (socket, monitor)
    }

    private func reopen() throws {
        socket.close()
        (socket, monitor) = try Self.openSocket(context, endpoints, timeoutMilliseconds, curve)
    }

    /// How waiting for one reply ended.
    private enum Wait {
        case reply([[UInt8]])
        case connectionLost
        case refused(HandshakeMonitor.Failure)
        case timedOut
    }

    /// Waits for the reply until `deadline` (monotonic nanoseconds), checking the monitor every 50 ms.
    private func awaitReply(until deadline: UInt64) throws -> Wait {
        let poller = Poller([socket])
        while true {
            let now = DispatchTime.now().uptimeNanoseconds
            guard now < deadline else { return .timedOut }
            if try poller.poll(timeoutMilliseconds: Int(min(50, (deadline - now + 999_999) / 1_000_000)))[0],
               let reply = try socket.receive(wait: false) {
                return .reply(reply)
            }
            let events = monitor.events()
            if let failure = events.failure { return .refused(failure) }
            if events.disconnected { return .connectionLost }
        }
    }

    /// Calls `method` with `request` and decodes the response as `Response`.
    ///
    /// - Throws: `Failure`, or `ZMQError` for transport errors.
    public func call<Response: SwiftProtobuf.Message>(
        _ method: Method, _ request: some SwiftProtobuf.Message, as _: Response.Type = Response.self
    ) throws -> Response {
        // REQ adds the empty delimiter itself: send [method][payload], receive [status][response].
        let frames = Array(try Envelope.request(method, request).dropFirst())
        let deadline = DispatchTime.now().uptimeNanoseconds + UInt64(max(0, timeoutMilliseconds)) * 1_000_000
        var attempts = 0
        var sent = false
        var refusal: HandshakeMonitor.Failure?
        while true {
            // A send times out when no server is connected, e.g. one refused at the handshake.
            if !sent {
                sent = try socket.send(frames)
                if !sent { try failWithoutReply(refusal ?? monitor.events().failure) }
            }
            switch try awaitReply(until: deadline) {
            case .reply(let reply):
                return try Self.decodeReply(reply, as: Response.self)
            case .connectionLost where !method.changesServingState && attempts < retries:
                attempts += 1
                try reopen()
                sent = false
            case .connectionLost:
                continue
            case .refused(let failure):
                refusal = failure
            case .timedOut:
                try failWithoutReply(refusal ?? monitor.events().failure)
            }
        }
    }

    /// Replaces the socket after a call got no reply and throws why: UNAUTHENTICATED when the handshake was
    /// refused, otherwise `.timeout`.
    private func failWithoutReply(_ handshake: HandshakeMonitor.Failure?) throws -> Never {
        try reopen()
        switch handshake {
        case .refused(let status)?:
            throw Failure.status(ServingError(.unauthenticated, "the server refused this client's key (ZAP status \(status)); its .pub must be in the server's allowed keys"))
        case .mechanism?:
            throw Failure.status(ServingError(.unauthenticated, curve == nil
                ? "the endpoint requires CURVE: give --server-public-key and --client-key"
                : "the CURVE handshake failed: is the server's public key right?"))
        case nil:
            throw Failure.timeout(milliseconds: timeoutMilliseconds)
        }
    }

    /// Decodes the frames [status][response] of a reply (after the empty delimiter).
    public static func decodeReply<Response: SwiftProtobuf.Message>(
        _ frames: [[UInt8]], as _: Response.Type
    ) throws -> Response {
        do {
            return try ReplyEnvelope(frames: frames).decode(as: Response.self)
        } catch let error as ServingError {
            throw Failure.status(error)
        } catch {
            throw Failure.malformedReply("\(error)")
        }
    }
}

extension Client {
    /// Runs a prediction.
    public func predict(_ request: Zserve_V1_PredictRequest) throws -> Zserve_V1_PredictResponse {
        try call(.predict, request)
    }

    /// The inputs and outputs of a model version (the default version unless `version` or `label` is given).
    public func modelMetadata(
        name: String, version: Int64? = nil, label: String = ""
    ) throws -> Zserve_V1_ModelMetadataResponse {
        try call(.modelMetadata, Zserve_V1_ModelMetadataRequest.with {
            $0.model = .with { spec in
                spec.name = name
                if let version { spec.version = version }
                spec.label = label
            }
        })
    }

    /// Every model with its versions' states.
    public func listModels() throws -> Zserve_V1_ListModelsResponse {
        try call(.listModels, Zserve_V1_ListModelsRequest())
    }
}
