import Foundation
public import ONNXSchema

extension Tensor {
    /// Converts an ONNX initializer or attribute tensor, reading `raw_data` or the typed repeated fields.
    ///
    /// - Throws: `InferenceError.unsupported` for element types or external data this runtime does not handle,
    ///   `.invalidModel` when the data does not match the declared dims.
    public init(onnx proto: Onnx_TensorProto) throws {
        try self.init(onnx: proto, rawDataIn: nil)
    }

    /// Reads a serialized TensorProto (an ONNX test data file such as `input_0.pb`).
    ///
    /// - Throws: `InferenceError.invalidModel` when the bytes are not a TensorProto, or as `init(onnx:)`.
    public init(serializedTensorProto bytes: Data) throws {
        let proto: Onnx_TensorProto
        do {
            proto = try Onnx_TensorProto(serializedBytes: bytes)
        } catch {
            throw InferenceError.invalidModel("not a serialized TensorProto (\(error))")
        }
        try self.init(onnx: proto)
    }

    /// Converts an initializer whose raw_data was cut out of the message (see `ONNXFile`) when `rawDataIn` gives its
    /// place in the file; otherwise as `init(onnx:)`.
    init(onnx proto: Onnx_TensorProto, rawDataIn location: (file: ONNXFile, range: Range<Int>)?) throws {
        let label = proto.name.isEmpty ? "tensor" : "tensor '\(proto.name)'"
        guard let elementType = ElementType(rawValue: proto.dataType) else {
            throw InferenceError.unsupported(["\(label) of ONNX data type \(proto.dataType)"])
        }
        if proto.dataLocation == .external || !proto.externalData.isEmpty {
            throw InferenceError.unsupported(["\(label) with external data"])
        }
        let shape = proto.dims.map { Int(clamping: $0) }
        do {
            try shape.validateShape()
        } catch {
            throw InferenceError.invalidModel("\(label): \(error)")
        }
        let count = shape.elementCount
        if elementType == .string {
            guard location == nil, !proto.hasRawData, proto.stringData.count == count else {
                throw InferenceError.invalidModel(
                    "\(label) has \(proto.stringData.count) values in string_data, dims \(shape) need \(count)")
            }
            var strings: [String] = []
            strings.reserveCapacity(count)
            for (index, bytes) in proto.stringData.enumerated() {
                guard let string = String(validating: bytes, as: UTF8.self) else {
                    throw InferenceError.invalidModel("\(label): string \(index) is not valid UTF-8")
                }
                strings.append(string)
            }
            self.init(strings: strings, shape: shape)
            return
        }
        let expectedBytes = count * elementType.byteSize

        if let location {
            guard location.range.count == expectedBytes else {
                throw InferenceError.invalidModel(
                    "\(label) holds \(location.range.count) bytes, dims \(shape) need \(expectedBytes)")
            }
            self.init(elementType: elementType, shape: shape, storage: try location.file.read(location.range))
            return
        }
        if proto.hasRawData {
            guard proto.rawData.count == expectedBytes else {
                throw InferenceError.invalidModel(
                    "\(label) holds \(proto.rawData.count) bytes, dims \(shape) need \(expectedBytes)")
            }
            // ONNX raw_data is little-endian, as are the platforms ZServe runs on.
            self = proto.rawData.withUnsafeBytes { Tensor(elementType: elementType, shape: shape, copying: $0) }
            return
        }

        func checked<T>(_ values: [T], _ field: String) throws -> [T] {
            guard values.count == count else {
                throw InferenceError.invalidModel("\(label) has \(values.count) values in \(field), dims \(shape) need \(count)")
            }
            return values
        }
        // ONNX stores the narrower types widened in a repeated field (float16 as its bit pattern).
        func narrowed<Wide: FixedWidthInteger, Narrow: FixedWidthInteger>(_ values: [Wide], to _: Narrow.Type) -> Tensor {
            let narrow = values.map { Narrow(truncatingIfNeeded: $0) }
            return narrow.withUnsafeBytes { Tensor(elementType: elementType, shape: shape, copying: $0) }
        }
        switch elementType {
        case .float32:
            let values = try checked(proto.floatData, "float_data")
            self = values.withUnsafeBytes { Tensor(elementType: .float32, shape: shape, copying: $0) }
        case .int64:
            let values = try checked(proto.int64Data, "int64_data")
            self = values.withUnsafeBytes { Tensor(elementType: .int64, shape: shape, copying: $0) }
        case .float64:
            let values = try checked(proto.doubleData, "double_data")
            self = values.withUnsafeBytes { Tensor(elementType: .float64, shape: shape, copying: $0) }
        case .int32:
            let values = try checked(proto.int32Data, "int32_data")
            self = values.withUnsafeBytes { Tensor(elementType: .int32, shape: shape, copying: $0) }
        case .bool, .uint8:
            self = try narrowed(checked(proto.int32Data, "int32_data"), to: UInt8.self)
        case .int8:
            self = try narrowed(checked(proto.int32Data, "int32_data"), to: Int8.self)
        case .float16, .uint16:
            self = try narrowed(checked(proto.int32Data, "int32_data"), to: UInt16.self)
        case .int16:
            self = try narrowed(checked(proto.int32Data, "int32_data"), to: Int16.self)
        case .uint32:
            self = try narrowed(checked(proto.uint64Data, "uint64_data"), to: UInt32.self)
        case .uint64:
            let values = try checked(proto.uint64Data, "uint64_data")
            self = values.withUnsafeBytes { Tensor(elementType: .uint64, shape: shape, copying: $0) }
        case .string:
            preconditionFailure("string tensors are read above")
        }
    }
}
