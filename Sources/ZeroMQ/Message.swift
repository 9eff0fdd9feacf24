/// A multipart message as received, possibly cut short.
public struct Message {
    /// The frames kept, in order.
    public var frames: [[UInt8]]
    /// Whether the message had more frames than the receive limit; those were read off the socket and discarded.
    public var isTruncated: Bool
}
