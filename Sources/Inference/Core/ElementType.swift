/// The element type of a tensor. Raw values are ONNX's `TensorProto.DataType` numbers, which the wire protocol shares.
///
/// `string` elements are Swift `String`s held in the tensor's storage (see `Tensor(strings:shape:)`): only kernels
/// that declare string support read them (`ElementTypeFlow` checks that at load), and their bytes are not a wire form.
public enum ElementType: Int32, Sendable, CaseIterable, CustomStringConvertible {
    case float32 = 1
    case uint8 = 2
    case int8 = 3
    case uint16 = 4
    case int16 = 5
    case int32 = 6
    case int64 = 7
    case string = 8
    case bool = 9
    case float16 = 10
    case float64 = 11
    case uint32 = 12
    case uint64 = 13

    /// Bytes per element.
    public var byteSize: Int {
        switch self {
        case .uint8, .int8, .bool: 1
        case .float16, .int16, .uint16: 2
        case .float32, .int32, .uint32: 4
        case .int64, .uint64, .float64: 8
        case .string: MemoryLayout<String>.stride
        }
    }

    /// Whether elements are fixed-size little-endian bytes (every type but `string`).
    public var hasRawBytes: Bool { self != .string }

    /// The little-endian bytes of the value 1 in this type (`true` for bool): what generated warm-up inputs are filled
    /// with (ones, not zeros, which could divide by zero). Empty for `string`, which has no byte form.
    public var oneBytes: [UInt8] {
        switch self {
        case .float32: withUnsafeBytes(of: Float(1).bitPattern.littleEndian, Array.init)
        case .float64: withUnsafeBytes(of: Double(1).bitPattern.littleEndian, Array.init)
        case .float16: [0x00, 0x3c]
        case .string: []
        default: [1] + [UInt8](repeating: 0, count: byteSize - 1)
        }
    }

    /// The lower-case name used in JSON and messages: `float32`, `int64`, `bool`, ...
    public var name: String {
        switch self {
        case .float32: "float32"
        case .uint8: "uint8"
        case .int8: "int8"
        case .uint16: "uint16"
        case .int16: "int16"
        case .int32: "int32"
        case .uint32: "uint32"
        case .uint64: "uint64"
        case .int64: "int64"
        case .bool: "bool"
        case .float16: "float16"
        case .float64: "float64"
        case .string: "string"
        }
    }

    /// Looks a type up by `name`; `float` and `double` are accepted as aliases.
    public init?(name: String) {
        switch name.lowercased() {
        case "float32", "float": self = .float32
        case "float64", "double": self = .float64
        default:
            guard let match = ElementType.allCases.first(where: { $0.name == name.lowercased() }) else { return nil }
            self = match
        }
    }

    public var description: String { name }
}
