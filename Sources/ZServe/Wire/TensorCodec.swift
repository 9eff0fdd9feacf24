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

    /// The wire form of a model input or output spec; -1 marks a dimension of any size.
    static func wire(_ spec: TensorSpec) -> Zserve_V1_TensorSpec {
        .with {
            $0.name = spec.name
            $0.dtype = dataType(spec.elementType)
            $0.shape = (spec.shape ?? []).map { Int64($0 ?? -1) }
        }
    }
}

