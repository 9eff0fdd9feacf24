import Inference
import ServingProtocol

/// Conversions between wire tensors (`Zserve_V1_Tensor`) and the runtime's tensors and specs.
enum TensorCodec {
    /// The runtime element type of a wire dtype; the enum numbers are shared with ONNX.
    static func elementType(_ dataType: Zserve_V1_DataType) -> ElementType? {
        ElementType(rawValue: Int32(dataType.rawValue))
    }

    /// The wire dtype of a runtime element type.
    static func dataType(_ elementType: ElementType) -> Zserve_V1_DataType {
        Zserve_V1_DataType(rawValue: Int(elementType.rawValue)) ?? .unspecified
    }

    /// A request tensor's element type and shape as the runtime reads them; the checks against the model's input
    /// (shape, type, byte count) are `TensorSpec.validate(elementType:shape:byteCount:)`'s.
    ///
    /// - Throws: INVALID_ARGUMENT for a dtype the runtime does not know.
    static func header(of tensor: Zserve_V1_Tensor) throws(ServingError) -> (ElementType, [Int]) {
        try header(name: tensor.name, dtype: Int32(truncatingIfNeeded: tensor.dtype.rawValue), shape: tensor.shape)
    }

    /// The wire dtype number of a runtime element type (`dataType`'s raw value).
    static func wireType(_ elementType: ElementType) -> Int32 {
        Int32(dataType(elementType).rawValue)
    }

    /// A request input's element type and shape, read without the generated message type (`header(of:)`'s checks).
    static func header(of input: WirePredictRequest.Input) throws(ServingError) -> (ElementType, [Int]) {
        try header(name: input.name, dtype: input.dtype, shape: input.shape)
    }

    private static func header(name: String, dtype: Int32, shape: [Int64]) throws(ServingError) -> (ElementType, [Int]) {
        guard let elementType = ElementType(rawValue: dtype) else {
            let named = Zserve_V1_DataType(rawValue: Int(dtype)) ?? .unspecified
            throw ServingError(.invalidArgument, "input '\(name)' has unsupported dtype \(named)")
        }
        return (elementType, shape.map { Int(clamping: $0) })
    }

    /// Checks that a request tensor uses the field its dtype calls for: `string_data` for strings, `raw_data`
    /// otherwise, never both.
    ///
    /// - Throws: INVALID_ARGUMENT naming the input and the misplaced field.
    static func checkFields(of input: WirePredictRequest.Input) throws(ServingError) {
        if input.dtype == ElementType.string.rawValue {
            guard input.data.isEmpty else {
                throw ServingError(.invalidArgument, "input '\(input.name)' is a string tensor: its elements go in string_data, not raw_data")
            }
        } else if !input.strings.isEmpty {
            throw ServingError(.invalidArgument, "input '\(input.name)' carries string_data but its dtype is not DATA_TYPE_STRING")
        }
    }

    /// The elements of a string input, read from `payload` (where the request was decoded from); empty for other
    /// types.
    ///
    /// - Throws: INVALID_ARGUMENT naming the input and the first element that is not UTF-8.
    static func strings(of input: WirePredictRequest.Input, in payload: ArraySlice<UInt8>) throws(ServingError) -> [String] {
        guard !input.strings.isEmpty else { return [] }
        let decoded = payload.withUnsafeBytes { buffer in
            input.strings.map { String(validating: buffer[$0], as: UTF8.self) }
        }
        if let bad = decoded.firstIndex(of: nil) {
            throw ServingError(.invalidArgument, "input '\(input.name)': string \(bad) is not valid UTF-8")
        }
        return decoded.map { $0! }
    }

    /// A runtime tensor from a wire tensor (warm-up inputs, tests): raw bytes copied, or strings decoded.
    ///
    /// - Throws: INVALID_ARGUMENT for an unknown dtype, a misplaced field, an invalid shape, or bytes or strings that
    ///   do not match the shape.
    static func tensor(from wire: Zserve_V1_Tensor) throws(ServingError) -> Tensor {
        let (elementType, shape) = try header(of: wire)
        do {
            try shape.validateShape()
        } catch {
            throw ServingError(.invalidArgument, "tensor '\(wire.name)': \(error)")
        }
        if elementType == .string {
            guard wire.rawData.isEmpty, wire.stringData.count == shape.elementCount else {
                throw ServingError(
                    .invalidArgument,
                    "tensor '\(wire.name)' of shape \(shape) needs \(shape.elementCount) strings in string_data and no raw_data")
            }
            var strings: [String] = []
            for (index, bytes) in wire.stringData.enumerated() {
                guard let string = String(validating: bytes, as: UTF8.self) else {
                    throw ServingError(.invalidArgument, "tensor '\(wire.name)': string \(index) is not valid UTF-8")
                }
                strings.append(string)
            }
            return Tensor(strings: strings, shape: shape)
        }
        guard wire.stringData.isEmpty, wire.rawData.count == shape.elementCount * elementType.byteSize else {
            throw ServingError(
                .invalidArgument,
                "tensor '\(wire.name)' has \(wire.rawData.count) bytes; shape \(shape) of \(elementType) needs \(shape.elementCount * elementType.byteSize)")
        }
        return wire.rawData.withUnsafeBytes { Tensor(elementType: elementType, shape: shape, copying: $0) }
    }

    /// The reply form of `tensor` (or of its `elements` under `shape`: one request's rows of a stacked output). It
    /// points into the tensor's memory, which must stay alive until the reply is encoded.
    static func output(
        _ tensor: Tensor, name: String, elements: Range<Int>? = nil, shape: [Int]? = nil
    ) -> WirePredictResponse.Output {
        let range = elements ?? 0..<tensor.count
        let dtype = wireType(tensor.elementType)
        if tensor.elementType == .string {
            return WirePredictResponse.Output(
                name: name, dtype: dtype, shape: shape ?? tensor.shape, strings: UnsafeBufferPointer(rebasing: tensor.strings[range]))
        }
        let size = tensor.elementType.byteSize
        return WirePredictResponse.Output(
            name: name, dtype: dtype, shape: shape ?? tensor.shape,
            bytes: UnsafeRawBufferPointer(rebasing: tensor.bytes[(range.lowerBound * size)..<(range.upperBound * size)]))
    }

    /// The wire form of a model input or output spec; -1 marks a dimension of any size.
    static func wire(_ spec: TensorSpec) -> Zserve_V1_TensorSpec {
        .with {
            $0.name = spec.name
            $0.dtype = dataType(spec.elementType)
            $0.shape = (spec.shape ?? []).map { Int64($0 ?? -1) }
        }
    }
}

