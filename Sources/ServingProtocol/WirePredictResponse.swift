import ProtobufWire

/// Encodes a `PredictResponse` in one pass into one buffer, from output bytes where they lie, for the worker's hot
/// path. The bytes equal what the generated `Zserve_V1_PredictResponse` encoder writes for the same values.
public enum WirePredictResponse {
    /// One output tensor; `bytes` (raw elements) or `strings` (a string tensor's elements) is only read during
    /// `encode`.
    public struct Output {
        public let name: String
        public let dtype: Int32
        public let shape: [Int]
        public let bytes: UnsafeRawBufferPointer
        public let strings: UnsafeBufferPointer<String>

        public init(name: String, dtype: Int32, shape: [Int], bytes: UnsafeRawBufferPointer) {
            self.name = name
            self.dtype = dtype
            self.shape = shape
            self.bytes = bytes
            self.strings = UnsafeBufferPointer(start: nil, count: 0)
        }

        /// A string tensor's output: one `string_data` entry per element, no raw bytes.
        public init(name: String, dtype: Int32, shape: [Int], strings: UnsafeBufferPointer<String>) {
            self.name = name
            self.dtype = dtype
            self.shape = shape
            self.bytes = UnsafeRawBufferPointer(start: nil, count: 0)
            self.strings = strings
        }
    }

    /// The encoded response.
    public static func encode(id: String, model: String, version: Int64, outputs: [Output]) -> [UInt8] {
        let sizes = outputs.map(tensorSize)
        var total = stringFieldSize(id) + stringFieldSize(model)
        if version != 0 { total += 1 + WireWriter.varintSize(UInt64(bitPattern: version)) }
        for size in sizes { total += lengthDelimitedSize(size) }
        var writer = WireWriter(capacity: total)
        if !id.isEmpty { writer.appendStringField(1, id) }
        if !model.isEmpty { writer.appendStringField(2, model) }
        if version != 0 { writer.appendVarintField(3, UInt64(bitPattern: version)) }
        for (output, size) in zip(outputs, sizes) {
            writer.appendLengthDelimited(4, count: size) { tensor in
                if !output.name.isEmpty { tensor.appendStringField(1, output.name) }
                if output.dtype != 0 { tensor.appendVarintField(2, UInt64(bitPattern: Int64(output.dtype))) }
                let shapeSize = packedSize(output.shape)
                if shapeSize > 0 {
                    tensor.appendLengthDelimited(3, count: shapeSize) { packed in
                        for dimension in output.shape { packed.appendVarint(UInt64(bitPattern: Int64(dimension))) }
                    }
                }
                if !output.bytes.isEmpty { tensor.appendBytesField(4, output.bytes) }
                // Repeated: every element is one field, empty strings included.
                for string in output.strings { tensor.appendStringField(5, string) }
            }
        }
        return writer.finish()
    }

    private static func tensorSize(_ output: Output) -> Int {
        var size = stringFieldSize(output.name)
        if output.dtype != 0 { size += 1 + WireWriter.varintSize(UInt64(bitPattern: Int64(output.dtype))) }
        let shape = packedSize(output.shape)
        if shape > 0 { size += lengthDelimitedSize(shape) }
        if !output.bytes.isEmpty { size += lengthDelimitedSize(output.bytes.count) }
        for string in output.strings { size += lengthDelimitedSize(string.utf8.count) }
        return size
    }

    private static func packedSize(_ values: [Int]) -> Int {
        values.reduce(0) { $0 + WireWriter.varintSize(UInt64(bitPattern: Int64($1))) }
    }

    /// A field with a one-byte tag (numbers below 16) and a length-delimited body of `count` bytes.
    private static func lengthDelimitedSize(_ count: Int) -> Int {
        1 + WireWriter.varintSize(UInt64(count)) + count
    }

    /// A string field, or nothing when it is empty (proto3 leaves defaults out).
    private static func stringFieldSize(_ value: String) -> Int {
        value.isEmpty ? 0 : lengthDelimitedSize(value.utf8.count)
    }
}
