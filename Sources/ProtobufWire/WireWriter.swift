/// Appends protobuf wire-format fields to a byte array, for hot paths that build a message without a generated
/// type's intermediate values.
///
/// Writes proto3 style: callers skip fields that hold their default value, as the generated encoders do, and
/// repeated scalars are packed.
public struct WireWriter {
    /// The encoded bytes so far.
    public private(set) var bytes: [UInt8]

    /// Starts an empty message with room for `capacity` bytes.
    public init(capacity: Int = 0) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    /// Appends `value` as a varint (its two's complement for negative numbers, 10 bytes, as protobuf does).
    public mutating func appendVarint(_ value: UInt64) {
        var rest = value
        while rest >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: rest) | 0x80)
            rest >>= 7
        }
        bytes.append(UInt8(rest))
    }

    /// How many bytes `appendVarint(value)` writes.
    public static func varintSize(_ value: UInt64) -> Int {
        var size = 1
        var rest = value >> 7
        while rest != 0 {
            size += 1
            rest >>= 7
        }
        return size
    }

    /// A varint field (wire type 0).
    public mutating func appendVarintField(_ number: Int, _ value: UInt64) {
        appendVarint(UInt64(number << 3))
        appendVarint(value)
    }

    /// A length-delimited field (wire type 2) holding `count` bytes that `body` appends.
    public mutating func appendLengthDelimited(_ number: Int, count: Int, _ body: (inout WireWriter) -> Void) {
        appendVarint(UInt64(number << 3 | 2))
        appendVarint(UInt64(count))
        let start = bytes.count
        body(&self)
        precondition(bytes.count - start == count, "a length-delimited field's body wrote another length than declared")
    }

    /// A length-delimited field holding `value`'s bytes.
    public mutating func appendBytesField(_ number: Int, _ value: UnsafeRawBufferPointer) {
        appendVarint(UInt64(number << 3 | 2))
        appendVarint(UInt64(value.count))
        bytes.append(contentsOf: value)
    }

    /// A string field (UTF-8).
    public mutating func appendStringField(_ number: Int, _ value: String) {
        var value = value
        value.withUTF8 { appendBytesField(number, UnsafeRawBufferPointer($0)) }
    }

    /// Appends raw bytes (a message body whose length prefix was already written).
    public mutating func append(_ raw: UnsafeRawBufferPointer) {
        bytes.append(contentsOf: raw)
    }

    /// Takes the encoded bytes.
    public consuming func finish() -> [UInt8] { bytes }
}
