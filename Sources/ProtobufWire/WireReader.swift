/// A malformed protobuf encoding: truncated, an over-long varint, a wire type this reader does not walk.
public struct WireFormatError: Error, CustomStringConvertible, Sendable {
    public let description: String

    public init(_ description: String) {
        self.description = description
    }
}

/// Just enough of the protobuf wire format to walk a message's fields without decoding them.
public struct WireField: Sendable {
    public let number: Int
    public let wireType: Int
    /// The whole field: tag, length prefix (if any) and value.
    public let bytes: Range<Int>
    /// The value: for length-delimited fields the payload without its length prefix.
    public let value: Range<Int>
}

/// Iterates the fields of one message in `buffer[range]`.
public struct WireReader {
    private let buffer: UnsafeRawBufferPointer
    private var offset: Int
    private let end: Int

    /// `buffer` must outlive the reader; `range` must lie inside it.
    public init(_ buffer: UnsafeRawBufferPointer, _ range: Range<Int>) {
        self.buffer = buffer
        self.offset = range.lowerBound
        self.end = range.upperBound
    }

    /// The next field, nil at the end of the message.
    ///
    /// - Throws: `WireFormatError` for truncated or malformed fields (and for groups, which neither ONNX nor zserve.v1
    ///   uses).
    public mutating func next() throws(WireFormatError) -> WireField? {
        guard offset < end else { return nil }
        let start = offset
        let tag = try varint()
        let (number, wireType) = (Int(tag >> 3), Int(tag & 7))
        let valueStart: Int
        let valueEnd: Int
        switch wireType {
        case 0:
            valueStart = offset
            _ = try varint()
            valueEnd = offset
        case 1, 5:
            valueStart = offset
            valueEnd = offset + (wireType == 1 ? 8 : 4)
        case 2:
            let length = try varint()
            guard length <= UInt64(end - offset) else { throw WireFormatError("truncated protobuf field") }
            valueStart = offset
            valueEnd = offset + Int(length)
        default:
            throw WireFormatError("unsupported protobuf wire type \(wireType)")
        }
        guard valueEnd <= end, number > 0 else { throw WireFormatError("truncated protobuf field") }
        offset = valueEnd
        return WireField(number: number, wireType: wireType, bytes: start..<valueEnd, value: valueStart..<valueEnd)
    }

    private mutating func varint() throws(WireFormatError) -> UInt64 {
        var value: UInt64 = 0
        for shift in stride(from: 0, to: 64, by: 7) {
            guard offset < end else { throw WireFormatError("truncated protobuf varint") }
            let byte = buffer[offset]
            offset += 1
            value |= UInt64(byte & 0x7f) << UInt64(shift)
            if byte & 0x80 == 0 { return value }
        }
        throw WireFormatError("protobuf varint longer than 10 bytes")
    }
}

extension WireField {
    /// This field's value as a varint (wire type 0): the reader already delimited it, so it is complete and at most
    /// 10 bytes long.
    public func varint(in buffer: UnsafeRawBufferPointer) -> UInt64 {
        var result: UInt64 = 0
        for (index, offset) in value.enumerated() where index < 10 {
            result |= UInt64(buffer[offset] & 0x7f) << UInt64(7 * index)
        }
        return result
    }
}
