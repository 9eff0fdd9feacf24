import Foundation
import ONNXSchema
import SwiftProtobuf

/// Writes plain ONNX models (default domain, one opset) from nodes and initializers: what the trainer exports.
///
/// Everything is stored in the standard fields (raw_data for tensors, metadata_props for metadata), so any ONNX
/// runtime reads the result. Not thread-safe; build on one thread, then take `serialized()`.
public struct ONNXModelBuilder {
    public static let opset: Int64 = 17
    private var model = Onnx_ModelProto()
    private var counter = 0

    /// Starts a model named `name`; `producer` goes into producer_name.
    public init(name: String, producer: String = "zserve-trainer", doc: String = "") {
        model.irVersion = 8
        model.producerName = producer
        model.opsetImport = [.with { $0.domain = ""; $0.version = Self.opset }]
        model.graph.name = name
        if !doc.isEmpty { model.docString = doc }
    }

    /// ONNX element type numbers used here.
    public enum ElementKind: Int32 { case float = 1, int32 = 6, int64 = 7, bool = 9 }

    /// Declares a graph input; nil dims are symbolic (named `dimName`).
    public mutating func input(_ name: String, _ kind: ElementKind, _ shape: [Int?], dimName: String = "batch", doc: String = "") {
        model.graph.input.append(Self.valueInfo(name, kind, shape, dimName: dimName, doc: doc))
    }

    /// Declares a graph output.
    public mutating func output(_ name: String, _ kind: ElementKind, _ shape: [Int?], dimName: String = "batch", doc: String = "") {
        model.graph.output.append(Self.valueInfo(name, kind, shape, dimName: dimName, doc: doc))
    }

    /// Adds a float initializer and returns its name.
    @discardableResult
    public mutating func constant(_ name: String, floats: [Float], shape: [Int]) -> String {
        constant(name, floats, .float, shape)
    }

    /// Adds an int64 initializer and returns its name.
    @discardableResult
    public mutating func constant(_ name: String, int64s: [Int64], shape: [Int]) -> String {
        constant(name, int64s, .int64, shape)
    }

    /// Adds an int32 initializer and returns its name.
    @discardableResult
    public mutating func constant(_ name: String, int32s: [Int32], shape: [Int]) -> String {
        constant(name, int32s, .int32, shape)
    }

    /// Adds an initializer holding `values` (little-endian raw data of `kind`) and returns its name.
    private mutating func constant<T>(_ name: String, _ values: [T], _ kind: ElementKind, _ shape: [Int]) -> String {
        precondition(values.count == shape.reduce(1, *), "\(name): \(values.count) values for shape \(shape)")
        model.graph.initializer.append(.with {
            $0.name = name
            $0.dataType = kind.rawValue
            $0.dims = shape.map(Int64.init)
            $0.rawData = values.withUnsafeBytes { Data($0) }
        })
        return name
    }

    /// Adds a node computing `outputs` (default: one fresh name) and returns its first output's name.
    ///
    /// Attribute values may be Int, Float, [Int] or String.
    @discardableResult
    public mutating func node(
        _ opType: String, _ inputs: [String], outputs: [String]? = nil, _ attributes: [String: Any] = [:]
    ) -> String {
        counter += 1
        let names = outputs ?? ["\(opType.lowercased())_\(counter)"]
        model.graph.node.append(.with { node in
            node.opType = opType
            node.name = "\(opType.lowercased())_\(counter)"
            node.input = inputs
            node.output = names
            node.attribute = attributes.keys.sorted().map { Self.attribute($0, attributes[$0]!) }
        })
        return names[0]
    }

    /// Sets metadata_props (sorted by key, so the file is the same for the same model).
    public mutating func metadata(_ entries: [String: String]) {
        model.metadataProps = entries.keys.sorted().map { key in .with { $0.key = key; $0.value = entries[key]! } }
    }

    /// The model file's bytes (deterministic: same model, same bytes).
    public func serialized() throws -> Data {
        var options = BinaryEncodingOptions()
        options.useDeterministicOrdering = true
        return try model.serializedData(options: options)
    }

    private static func valueInfo(_ name: String, _ kind: ElementKind, _ shape: [Int?], dimName: String, doc: String) -> Onnx_ValueInfoProto {
        .with { info in
            info.name = name
            if !doc.isEmpty { info.docString = doc }
            info.type.tensorType = .with { tensor in
                tensor.elemType = kind.rawValue
                tensor.shape = .with {
                    $0.dim = shape.map { dim in
                        .with { if let dim { $0.dimValue = Int64(dim) } else { $0.dimParam = dimName } }
                    }
                }
            }
        }
    }

    private static func attribute(_ name: String, _ value: Any) -> Onnx_AttributeProto {
        .with { attribute in
            attribute.name = name
            switch value {
            case let int as Int: attribute.type = .int; attribute.i = Int64(int)
            case let float as Float: attribute.type = .float; attribute.f = float
            case let ints as [Int]: attribute.type = .ints; attribute.ints = ints.map(Int64.init)
            case let string as String: attribute.type = .string; attribute.s = Data(string.utf8)
            default: preconditionFailure("unsupported attribute value \(value)")
            }
        }
    }
}
