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
