import Foundation
import ProtobufWire

extension Data {
    /// Appends a protobuf varint.
    mutating func appendVarint(_ value: UInt64) {
        var rest = value
        while rest >= 0x80 {
            append(UInt8(rest & 0x7f) | 0x80)
            rest >>= 7
        }
        append(UInt8(rest))
    }

    /// Appends a length-delimited field.
    mutating func appendField(_ number: Int, payload: Data) {
        appendVarint(UInt64(number) << 3 | 2)
        appendVarint(UInt64(payload.count))
        append(payload)
    }
}

extension WireReader {
    /// The next field, with malformed encodings reported as an invalid model.
    mutating func nextField() throws(InferenceError) -> WireField? {
        do {
            return try next()
        } catch {
            throw InferenceError.invalidModel("\(error)")
        }
    }
}
