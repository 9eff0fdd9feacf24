import SwiftProtobuf

/// Encoding of the frames that follow the empty delimiter in requests and replies.
public enum Frames {
    /// The frames of a request: [empty][method][payload].
    public static func request(_ method: Method, _ message: some SwiftProtobuf.Message) throws -> [[UInt8]] {
        [[], method.frame, try message.serializedBytes()]
    }

    /// The frames of a reply: [empty][status][response]; the response frame is empty unless the status is OK.
    public static func reply(status: Zserve_V1_Status, response: [UInt8]) throws -> [[UInt8]] {
        [[], try status.serializedBytes(), status.code == .ok ? response : []]
    }
}
