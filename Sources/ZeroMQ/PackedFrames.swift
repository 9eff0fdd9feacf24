/// Several frames kept as one value: each frame as a 4-byte little-endian length, then its bytes, back to back.
///
/// Routing envelopes travel this way through the server: read once from the client's frames, carried to a worker
/// and back inside one message, and sent to the client frame by frame (`Socket.send(_:_:wait:)`) without ever being
/// split into arrays. Frames are viewed as slices of the one storage; copying the value shares it.
public struct PackedFrames: Equatable, Hashable, Sendable, Sequence, ExpressibleByArrayLiteral {
    /// The encoded frames (lengths and bytes), possibly a slice of a larger buffer.
    public let bytes: ArraySlice<UInt8>

    /// Packs `frames`.
    public init(_ frames: [[UInt8]]) {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(frames.reduce(0) { $0 + 4 + $1.count })
        for frame in frames {
            Self.appendLength(frame.count, to: &bytes)
            bytes += frame
        }
        self.bytes = bytes[...]
    }

    public init(arrayLiteral frames: [UInt8]...) {
        self.init(frames)
    }

    /// Takes bytes this module packed (no check).
    init(packed bytes: ArraySlice<UInt8>) {
        self.bytes = bytes
    }

    /// Takes `bytes` as packed frames, or nil when they are not exactly whole frames (bytes from a peer are checked
    /// here, before anything reads them).
    public init?(validating bytes: ArraySlice<UInt8>) {
        var position = bytes.startIndex
        while position < bytes.endIndex {
            guard bytes.endIndex - position >= 4 else { return nil }
            let length = Self.length(in: bytes, at: position)
            guard bytes.endIndex - position - 4 >= length else { return nil }
            position += 4 + length
        }
        self.bytes = bytes
    }

    /// The first frame, if any.
    public var first: ArraySlice<UInt8>? {
        var iterator = makeIterator()
        return iterator.next()
    }

    /// The first `count` frames and the rest (both sharing the storage); fewer frames than `count`: all, then none.
    public func split(at count: Int) -> (PackedFrames, PackedFrames) {
        var iterator = makeIterator()
        for _ in 0..<count where iterator.next() != nil {}
        return (PackedFrames(packed: bytes[..<iterator.position]), PackedFrames(packed: bytes[iterator.position...]))
    }

    /// The frames after the first (sharing the storage).
    public var afterFirst: PackedFrames { split(at: 1).1 }

    /// The number of frames (a walk over the lengths).
    public var count: Int { reduce(0) { count, _ in count + 1 } }

    /// The frames as arrays (copies), for code off the hot path and tests.
    public var frames: [[UInt8]] { map { Array($0) } }

    public func makeIterator() -> Iterator { Iterator(bytes: bytes, position: bytes.startIndex) }

    /// Visits the frames in order, each a slice of the storage.
    public struct Iterator: IteratorProtocol {
        let bytes: ArraySlice<UInt8>
        var position: Int

        public mutating func next() -> ArraySlice<UInt8>? {
            guard position < bytes.endIndex else { return nil }
            let length = PackedFrames.length(in: bytes, at: position)
            let start = position + 4
            position = start + length
            return bytes[start..<position]
        }
    }

    /// Appends a frame length as packed frames write it.
    public static func appendLength(_ length: Int, to bytes: inout [UInt8]) {
        let value = UInt32(length)
        bytes.append(UInt8(truncatingIfNeeded: value))
        bytes.append(UInt8(truncatingIfNeeded: value >> 8))
        bytes.append(UInt8(truncatingIfNeeded: value >> 16))
        bytes.append(UInt8(truncatingIfNeeded: value >> 24))
    }

    static func length(in bytes: ArraySlice<UInt8>, at position: Int) -> Int {
        Int(bytes[position]) | Int(bytes[position + 1]) << 8 | Int(bytes[position + 2]) << 16 | Int(bytes[position + 3]) << 24
    }
}
