import ProtobufWire

/// A `PredictRequest` read straight from its encoding, for the worker's hot path: strings and shapes are decoded,
/// tensor bytes are not copied but located (`Input.data`, a range of the payload).
///
/// Accepts what the generated `Zserve_V1_PredictRequest` decoder accepts and refuses what it refuses: unknown fields
/// are skipped, and so are known fields with another wire type; the last of a repeated singular field wins, an
/// embedded `ModelSpec` given twice is merged, `shape` may be packed or not; strings must be valid UTF-8.
public struct WirePredictRequest: Sendable {
    /// One input tensor; `data` is where its raw bytes lie and `strings` where each `string_data` entry lies,
    /// counted from the payload's first byte.
    public struct Input: Sendable {
        public var name = ""
        /// The `DataType` number as sent (not checked here).
        public var dtype: Int32 = 0
        public var shape: [Int64] = []
        public var data: Range<Int> = 0..<0
        /// The elements of a string tensor (not checked here: their UTF-8 is the handler's to validate).
        public var strings: [Range<Int>] = []
    }

    public var id = ""
    public var model = ""
    public var version: Int64 = 0
    public var label = ""
    public var inputs: [Input] = []
    public var outputNames: [String] = []
    public var timeoutMicroseconds: UInt64 = 0

    /// Reads `payload`.
    ///
    /// - Throws: `WireFormatError` saying what is malformed.
    public init(payload: [UInt8]) throws(WireFormatError) {
        try self.init(payload: payload[...])
    }

    /// Reads `payload` where it lies; `Input.data` ranges count from its first byte.
    ///
    /// - Throws: `WireFormatError` saying what is malformed.
    public init(payload: ArraySlice<UInt8>) throws(WireFormatError) {
        // `withUnsafeBytes` rethrows untyped errors; the typed one travels out in a Result.
        let read = payload.withUnsafeBytes { buffer in
            var request = WirePredictRequest()
            return Result { () throws(WireFormatError) in
                try request.read(buffer)
                return request
            }
        }
        self = try read.get()
    }

    /// An empty request (every field at its default).
    public init() {}

    private mutating func read(_ buffer: UnsafeRawBufferPointer) throws(WireFormatError) {
        var reader = WireReader(buffer, 0..<buffer.count)
        while let field = try reader.next() {
            switch (field.number, field.wireType) {
            case (1, 2): id = try Self.string(field, buffer, "id")
            case (2, 2): try readSpec(buffer, field.value)
            case (3, 2): inputs.append(try Self.input(buffer, field.value))
            case (4, 2): outputNames.append(try Self.string(field, buffer, "output_names"))
            case (5, 0): timeoutMicroseconds = field.varint(in: buffer)
            default: continue
            }
        }
    }

    private mutating func readSpec(_ buffer: UnsafeRawBufferPointer, _ range: Range<Int>) throws(WireFormatError) {
        var reader = WireReader(buffer, range)
        while let field = try reader.next() {
            switch (field.number, field.wireType) {
            case (1, 2): model = try Self.string(field, buffer, "model.name")
            case (2, 0): version = Int64(bitPattern: field.varint(in: buffer))
            case (3, 2): label = try Self.string(field, buffer, "model.label")
            default: continue
            }
        }
    }

    private static func input(_ buffer: UnsafeRawBufferPointer, _ range: Range<Int>) throws(WireFormatError) -> Input {
        var input = Input()
        var reader = WireReader(buffer, range)
        while let field = try reader.next() {
            switch (field.number, field.wireType) {
            case (1, 2): input.name = try string(field, buffer, "inputs.name")
            case (2, 0): input.dtype = Int32(truncatingIfNeeded: field.varint(in: buffer))
            case (3, 0): input.shape.append(Int64(bitPattern: field.varint(in: buffer)))
            case (3, 2):
                // At most one dimension per byte: one allocation instead of a growth per few dimensions.
                input.shape.reserveCapacity(input.shape.count + field.value.count)
                try packedVarints(buffer, field.value) { input.shape.append(Int64(bitPattern: $0)) }
            case (4, 2): input.data = field.value
            case (5, 2): input.strings.append(field.value)
            default: continue
            }
        }
        return input
    }

    private static func string(_ field: WireField, _ buffer: UnsafeRawBufferPointer, _ name: String) throws(WireFormatError) -> String {
        guard let text = String(validating: buffer[field.value], as: UTF8.self) else {
            throw WireFormatError("field \(name) is not valid UTF-8")
        }
        return text
    }

    /// Calls `body` with each varint of a packed field's payload.
    private static func packedVarints(
        _ buffer: UnsafeRawBufferPointer, _ range: Range<Int>, _ body: (UInt64) -> Void
    ) throws(WireFormatError) {
        var offset = range.lowerBound
        while offset < range.upperBound {
            var value: UInt64 = 0
            var shift: UInt64 = 0
            while true {
                guard offset < range.upperBound else { throw WireFormatError("truncated packed varint") }
                guard shift < 64 else { throw WireFormatError("packed varint longer than 10 bytes") }
                let byte = buffer[offset]
                offset += 1
                value |= UInt64(byte & 0x7f) << shift
                if byte & 0x80 == 0 { break }
                shift += 7
            }
            body(value)
        }
    }
}
