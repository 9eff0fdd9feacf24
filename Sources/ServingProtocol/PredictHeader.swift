import ProtobufWire

/// What the broker needs from a PredictRequest without decoding it: the request id (echoed in every reply, including
/// the broker's own rejections), the model spec (which requests may batch together) and the timeout.
///
/// Read by walking the top-level fields of the payload (`PredictRequest` field 1 id, 2 model, 5 timeout_us; in
/// `ModelSpec` 1 name, 2 version, 3 label); tensors are skipped, never copied. A payload that does not parse yields
/// what was read before the damage (often nothing): the worker then answers it precisely.
public struct PredictHeader: Sendable, Equatable {
    public var requestID = ""
    public var model = ""
    public var version: Int64 = 0
    public var label = ""
    public var timeoutMicroseconds: UInt64 = 0

    public init() {}

    /// Peeks at a PredictRequest payload.
    public init(payload: [UInt8]) {
        self.init(payload: payload[...])
    }

    /// Peeks at a PredictRequest payload where it lies.
    public init(payload: ArraySlice<UInt8>) {
        self.init()
        payload.withUnsafeBytes { buffer in
            var request = WireReader(buffer, 0..<buffer.count)
            while let field = try? request.next() {
                switch (field.number, field.wireType) {
                case (1, 2): requestID = Self.string(buffer, field.value)
                case (2, 2): readSpec(buffer, field.value)
                case (5, 0): timeoutMicroseconds = field.varint(in: buffer)
                default: continue
                }
            }
        }
    }

    private mutating func readSpec(_ buffer: UnsafeRawBufferPointer, _ range: Range<Int>) {
        var spec = WireReader(buffer, range)
        while let field = try? spec.next() {
            switch (field.number, field.wireType) {
            case (1, 2): model = Self.string(buffer, field.value)
            case (2, 0): version = Int64(bitPattern: field.varint(in: buffer))
            case (3, 2): label = Self.string(buffer, field.value)
            default: continue
            }
        }
    }

    private static func string(_ buffer: UnsafeRawBufferPointer, _ range: Range<Int>) -> String {
        String(decoding: buffer[range], as: UTF8.self)
    }
}
