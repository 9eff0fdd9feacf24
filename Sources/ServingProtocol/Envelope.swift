import SwiftProtobuf

/// The frames of every request and reply, in one place for the server, the clients, the load generator and tests.
///
/// A request is `[routing...][empty][method][payload]`: a ROUTER sees the routing frames (the client's routing id,
/// then any frames added on the way — a REQ_CORRELATE request id, proxies); the client sends from the empty delimiter
/// on (a REQ socket adds the delimiter itself). A reply is `[routing...][empty][status][response]`, `status` an
/// encoded `zserve.v1.Status`, `response` the response message (empty unless the status is OK).
public enum Envelope {
    /// Most routing frames a request may carry before its delimiter.
    public static let maximumRoutingFrames = 8

    /// The frames a DEALER client sends: [empty][method][payload].
    public static func request(_ method: Method, payload: [UInt8]) -> [[UInt8]] {
        [[], method.frame, payload]
    }

    /// The frames a DEALER client sends for `message`.
    ///
    /// - Throws: when the message cannot be encoded (a required field missing; zserve.v1 has none).
    public static func request(_ method: Method, _ message: some SwiftProtobuf.Message) throws -> [[UInt8]] {
        request(method, payload: try message.serializedBytes())
    }

    /// The frames a server sends back after the routing frames: [empty][status][response].
    public static func reply(status: [UInt8], response: [UInt8]) -> [[UInt8]] {
        [[], status, response]
    }
}

/// A request as the server's ROUTER received it.
public struct RequestEnvelope: Sendable {
    /// The frames before the delimiter; the reply carries them back unchanged.
    public let routing: [[UInt8]]
    public let method: Method
    public let payload: [UInt8]

    /// Why frames are not a request, with the routing frames needed to answer.
    public struct Rejection: Error, Sendable {
        public let routing: [[UInt8]]
        public let error: ServingError
    }

    /// Most frames a well-formed request has: routing frames, the delimiter, method and payload.
    public static let frameLimit = Envelope.maximumRoutingFrames + 3

    /// Splits frames received on a ROUTER into routing frames, method and payload.
    ///
    /// - Parameter truncated: whether more than `frameLimit` frames arrived (the rest were discarded).
    /// - Returns: the request, or a rejection: INVALID_ARGUMENT for a missing delimiter or a wrong frame count,
    ///   UNIMPLEMENTED for an unknown service or method. Without a delimiter only the ROUTER's routing id is kept.
    public static func parse(_ frames: [[UInt8]], truncated: Bool = false) -> Result<RequestEnvelope, Rejection> {
        let delimiter = frames.indices.dropFirst().first { frames[$0].isEmpty }
        let routing = Array(frames[..<(delimiter ?? min(1, frames.count))])
        func reject(_ code: Zserve_V1_Code, _ message: String) -> Result<RequestEnvelope, Rejection> {
            .failure(Rejection(routing: routing, error: ServingError(code, message)))
        }
        guard let delimiter else {
            return reject(.invalidArgument, "expected frames [empty][method][payload]: the empty delimiter frame is missing")
        }
        guard routing.count <= Envelope.maximumRoutingFrames else {
            return reject(.invalidArgument, "\(routing.count) routing frames before the empty delimiter, more than \(Envelope.maximumRoutingFrames) (the ROUTER's routing id included)")
        }
        let after = frames.count - delimiter - 1
        guard !truncated, after == 2 else {
            let count = truncated ? "more than \(frameLimit - delimiter - 1)" : "\(after)"
            return reject(.invalidArgument, "expected frames [empty][method][payload], got \(count) frame(s) after the delimiter")
        }
        let methodFrame = frames[delimiter + 1]
        guard let method = Method(frame: methodFrame) else {
            let path = String(decoding: methodFrame.prefix(200), as: UTF8.self)
            let service = path.split(separator: "/").first.map(String.init) ?? ""
            let what = Method.services.contains(service) ? "method" : "service"
            return reject(.unimplemented, "unknown \(what) in '\(path)'")
        }
        return .success(RequestEnvelope(routing: routing, method: method, payload: frames[delimiter + 2]))
    }
}

/// A reply as a client receives it: the status and, when OK, the response message's bytes.
public struct ReplyEnvelope: Sendable {
    public let status: Zserve_V1_Status
    public let response: [UInt8]

    /// Why reply frames could not be read.
    public struct Malformed: Error, CustomStringConvertible, Sendable {
        public let description: String
    }

    /// Parses `[status][response]` (what a REQ socket returns) or `[empty][status][response]` (a DEALER's).
    ///
    /// - Throws: `Malformed` for another frame count or a status frame that is not a `zserve.v1.Status`.
    public init(frames: [[UInt8]]) throws(Malformed) {
        let body = frames.count == 3 && frames[0].isEmpty ? Array(frames.dropFirst()) : frames
        guard body.count == 2 else { throw Malformed(description: "\(frames.count) frames, expected [status][response]") }
        do {
            status = try Zserve_V1_Status(serializedBytes: body[0])
        } catch {
            throw Malformed(description: "status frame: \(error)")
        }
        response = body[1]
    }

    /// The error the status carries, or nil when it is OK.
    public var error: ServingError? {
        status.code == .ok ? nil : ServingError(status.code, status.message)
    }

    /// The response decoded as `Response`.
    ///
    /// - Throws: the status's `ServingError` when it is not OK, `Malformed` when the response does not decode.
    public func decode<Response: SwiftProtobuf.Message>(as _: Response.Type = Response.self) throws -> Response {
        if let error { throw error }
        do {
            return try Response(serializedBytes: response)
        } catch {
            throw Malformed(description: "response frame is not a \(Response.protoMessageName): \(error)")
        }
    }
}
