import SwiftProtobuf

/// Encoding of the frames that follow the empty delimiter in requests and replies.
public enum Frames {
    /// The frames of a request: [empty][method][payload].
    public static func request(_ method: Method, _ message: some SwiftProtobuf.Message) throws -> [[UInt8]] {
        [[], method.frame, try message.serializedBytes()]
    }
}
