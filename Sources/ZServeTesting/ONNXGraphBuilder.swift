import Foundation
import Inference
import ONNXSchema

/// Builds small ONNX models in memory, for tests of the loader and kernels.
///
/// ```swift
/// var graph = ONNXGraphBuilder(opset: 17)
/// graph.input("x", .float32, [nil, 4])
/// graph.node("Relu", ["x"], ["y"])
/// graph.output("y", .float32, [nil, 4])
/// let model = try Model(onnx: graph.serialized())
/// ```
public struct ONNXGraphBuilder {
    private var model = Onnx_ModelProto()

    /// Starts a model importing `opset` of the default domain.
    public init(opset: Int = 17) {
        model.irVersion = 8
        model.producerName = "zserve-tests"
        model.opsetImport = [.with { $0.domain = ""; $0.version = Int64(opset) }]
        model.graph.name = "test"
    }

    /// Also imports `version` of `domain` (e.g. "ai.onnx.ml").
    public mutating func importDomain(_ domain: String, version: Int) {
        model.opsetImport.append(.with { $0.domain = domain; $0.version = Int64(version) })
    }

    /// Declares a graph input; nil dims are symbolic ("batch"), a nil shape is unknown rank.
    public mutating func input(_ name: String, _ type: ElementType, _ shape: [Int?]?) {
        model.graph.input.append(Self.valueInfo(name, type, shape))
    }

    /// Declares a graph output.
    public mutating func output(_ name: String, _ type: ElementType, _ shape: [Int?]?) {
        model.graph.output.append(Self.valueInfo(name, type, shape))
    }

    /// Declares a graph output that is a sequence of `type` tensors (what a served model may not have).
    public mutating func sequenceOutput(_ name: String, _ type: ElementType) {
        model.graph.output.append(.with { info in
            info.name = name
            info.type.sequenceType.elemType = Self.valueInfo(name, type, nil).type
        })
    }

    /// Adds an initializer stored as raw_data (or in the typed field when `typed` is true; strings always are).
    public mutating func initializer(_ name: String, _ tensor: Tensor, typed: Bool = false) {
        model.graph.initializer.append(Self.tensorProto(name, tensor, typed: typed))
    }

    /// Adds a node; attribute values may be Int, Float, [Int], [Float], String, [String] or Tensor.
    public mutating func node(
        _ opType: String, _ inputs: [String], _ outputs: [String], name: String = "", domain: String = "",
        _ attributes: [String: Any] = [:]
    ) {
        model.graph.node.append(.with { node in
            node.opType = opType
            node.input = inputs
            node.output = outputs
            node.name = name
            if !domain.isEmpty { node.domain = domain }
            node.attribute = attributes.keys.sorted().map { Self.attribute($0, attributes[$0]!) }
        })
    }

    /// The model's protobuf bytes.
    public func serialized() throws -> Data {
        try model.serializedData()
    }

    static func valueInfo(_ name: String, _ type: ElementType, _ shape: [Int?]?) -> Onnx_ValueInfoProto {
        .with { info in
            info.name = name
            info.type.tensorType = .with { tensor in
                tensor.elemType = type.rawValue
                if let shape {
                    tensor.shape = .with {
                        $0.dim = shape.map { dim in
                            .with { if let dim { $0.dimValue = Int64(dim) } else { $0.dimParam = "batch" } }
                        }
                    }
                }
            }
        }
    }

    /// The ONNX form of `tensor`: raw_data, or float_data / int64_data when `typed`.
    public static func tensorProto(_ name: String, _ tensor: Tensor, typed: Bool = false) -> Onnx_TensorProto {
        .with { proto in
            proto.name = name
            proto.dataType = tensor.elementType.rawValue
            proto.dims = tensor.shape.map { Int64($0) }
            switch (typed, tensor.elementType) {
            case (true, .float32): proto.floatData = tensor.array(of: Float.self)
            case (true, .int64): proto.int64Data = tensor.array(of: Int64.self)
            case (_, .string): proto.stringData = tensor.strings.map { Data($0.utf8) }
            default: proto.rawData = Data(tensor.bytes)
            }
        }
    }

    static func attribute(_ name: String, _ value: Any) -> Onnx_AttributeProto {
        .with { attribute in
            attribute.name = name
            switch value {
            case let int as Int: attribute.type = .int; attribute.i = Int64(int)
            case let float as Float: attribute.type = .float; attribute.f = float
            case let ints as [Int]: attribute.type = .ints; attribute.ints = ints.map { Int64($0) }
            case let floats as [Float]: attribute.type = .floats; attribute.floats = floats
            case let string as String: attribute.type = .string; attribute.s = Data(string.utf8)
            case let strings as [String]: attribute.type = .strings; attribute.strings = strings.map { Data($0.utf8) }
            case let tensor as Tensor: attribute.type = .tensor; attribute.t = tensorProto("", tensor)
            default: preconditionFailure("unsupported attribute value \(value)")
            }
        }
    }
}
