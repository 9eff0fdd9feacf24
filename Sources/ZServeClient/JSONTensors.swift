import Foundation
import ServingProtocol

/// Conversion between the CLI's JSON tensors and wire tensors.
///
/// A tensor is either `{"dtype": "float32", "shape": [2, 4], "data": [...flat...]}` or a bare (nested) list whose
/// nesting gives the shape and whose dtype comes from the model's metadata. JSON has no NaN: a float element
/// written `null` is NaN (a missing feature value, which tree models route), and NaN outputs are written `null`.
/// String tensors (dtype "string") are lists of JSON strings.
public enum JSONTensors {
    public struct FormatError: Error, CustomStringConvertible {
        public let description: String
        init(_ description: String) { self.description = description }
    }

    /// Parses a JSON object of inputs by name. `specs` supplies dtypes for bare lists.
    public static func parseInputs(_ json: Data, specs: [Zserve_V1_TensorSpec]) throws -> [Zserve_V1_Tensor] {
        let object: Any
        do {
            object = try JSONSerialization.jsonObject(with: json, options: [.fragmentsAllowed])
        } catch {
            throw FormatError("inputs are not valid JSON: \(error.localizedDescription)")
        }
        guard let inputs = object as? [String: Any] else {
            throw FormatError("inputs must be a JSON object mapping input names to tensors")
        }
        return try inputs.keys.sorted().map { name in
            try parseTensor(name: name, inputs[name]!, defaultType: specs.first { $0.name == name }?.dtype ?? .float32)
        }
    }

    static func parseTensor(name: String, _ value: Any, defaultType: Zserve_V1_DataType) throws -> Zserve_V1_Tensor {
        let dtype: Zserve_V1_DataType
        let shape: [Int64]
        let data: [Any]
        if let object = value as? [String: Any] {
            guard let typeName = object["dtype"] as? String, let type = dataType(named: typeName) else {
                throw FormatError(
                    "input '\(name)': dtype must be one of float32, float64, int64, int32, int16, int8, uint64, uint32, uint16, uint8, bool, string")
            }
            guard let dims = object["shape"] as? [NSNumber] else {
                throw FormatError("input '\(name)': shape must be a list of integers")
            }
            dtype = type
            shape = dims.map(\.int64Value)
            data = try flatten(object["data"] ?? [], name: name).values
        } else {
            dtype = defaultType
            (shape, data) = try flatten(value, name: name)
        }
        return try .with {
            $0.name = name
            $0.dtype = dtype
            $0.shape = shape
            if dtype == .string {
                $0.stringData = try data.map { value in
                    guard let string = value as? String else { throw FormatError("input '\(name)': data must be strings") }
                    return Data(string.utf8)
                }
            } else {
                $0.rawData = try encode(data, as: dtype, name: name)
            }
        }
    }

    /// Flattens a nested list, checking it is rectangular; the nesting gives the shape.
    static func flatten(_ value: Any, name: String) throws -> (shape: [Int64], values: [Any]) {
        guard let list = value as? [Any] else { return ([], [value]) }
        var shape: [Int64] = [Int64(list.count)]
        var values: [Any] = []
        var innerShape: [Int64]?
        for element in list {
            let (elementShape, elementValues) = try flatten(element, name: name)
            if let innerShape, innerShape != elementShape {
                throw FormatError("input '\(name)': nested lists are ragged")
            }
            innerShape = elementShape
            values.append(contentsOf: elementValues)
        }
        shape.append(contentsOf: innerShape ?? [])
        return (shape, values)
    }

    static func encode(_ values: [Any], as dtype: Zserve_V1_DataType, name: String) throws -> Data {
        func numbers() throws -> [NSNumber] {
            try values.map { value in
                guard let number = value as? NSNumber else { throw FormatError("input '\(name)': data must be numbers") }
                return number
            }
        }
        func floats() throws -> [Double] {
            try values.map { value in
                if value is NSNull { return .nan }
                guard let number = value as? NSNumber else {
                    throw FormatError("input '\(name)': data must be numbers (or null for NaN)")
                }
                return number.doubleValue
            }
        }
        func bytes<T>(_ array: [T]) -> Data { array.withUnsafeBytes { Data($0) } }
        switch dtype {
        case .float32: return bytes(try floats().map { Float($0) })
        case .float64: return bytes(try floats())
        case .int64: return bytes(try numbers().map(\.int64Value))
        case .int32: return bytes(try numbers().map(\.int32Value))
        case .int8: return bytes(try numbers().map(\.int8Value))
        case .uint8: return bytes(try numbers().map(\.uint8Value))
        case .int16: return bytes(try numbers().map(\.int16Value))
        case .uint16: return bytes(try numbers().map(\.uint16Value))
        case .uint32: return bytes(try numbers().map(\.uint32Value))
        case .uint64: return bytes(try numbers().map(\.uint64Value))
        case .bool: return bytes(try numbers().map { $0.boolValue ? UInt8(1) : UInt8(0) })
        default: throw FormatError("input '\(name)': dtype \(dtype) cannot be written as JSON")
        }
    }

    /// A wire tensor as `{"dtype", "shape", "data"}` with flat data.
    public static func object(for tensor: Zserve_V1_Tensor) -> [String: Any] {
        let raw = tensor.rawData
        func values<T>(_: T.Type, _ convert: (T) -> Any) -> [Any] {
            let count = raw.count / MemoryLayout<T>.size
            return raw.withUnsafeBytes { bytes in
                (0..<count).map { convert(bytes.loadUnaligned(fromByteOffset: $0 * MemoryLayout<T>.size, as: T.self)) }
            }
        }
        let data: [Any] = switch tensor.dtype {
        case .float32: values(Float.self) { $0.isNaN ? NSNull() as Any : Double($0) as Any }
        case .float64: values(Double.self) { $0.isNaN ? NSNull() as Any : $0 as Any }
        case .int64: values(Int64.self) { $0 }
        case .int32: values(Int32.self) { $0 }
        case .int8: values(Int8.self) { $0 }
        case .uint8: values(UInt8.self) { $0 }
        case .int16: values(Int16.self) { $0 }
        case .uint16: values(UInt16.self) { $0 }
        case .uint32: values(UInt32.self) { $0 }
        case .uint64: values(UInt64.self) { $0 }
        case .bool: values(UInt8.self) { $0 != 0 }
        case .string: tensor.stringData.map { String(decoding: $0, as: UTF8.self) }
        default: []
        }
        return ["dtype": name(of: tensor.dtype), "shape": tensor.shape, "data": data]
    }

    /// The JSON name of a dtype, e.g. "float32".
    public static func name(of dtype: Zserve_V1_DataType) -> String {
        switch dtype {
        case .float32: "float32"
        case .float64: "float64"
        case .float16: "float16"
        case .int64: "int64"
        case .int32: "int32"
        case .int8: "int8"
        case .uint8: "uint8"
        case .int16: "int16"
        case .uint16: "uint16"
        case .uint32: "uint32"
        case .uint64: "uint64"
        case .bool: "bool"
        case .string: "string"
        default: "unspecified"
        }
    }

    static func dataType(named name: String) -> Zserve_V1_DataType? {
        let all: [Zserve_V1_DataType] = [
            .float32, .float64, .float16, .int64, .int32, .int16, .int8, .uint64, .uint32, .uint16, .uint8, .bool, .string,
        ]
        return all.first { self.name(of: $0) == name.lowercased() } ?? (name == "float" ? .float32 : nil)
    }
}
