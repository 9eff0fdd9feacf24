/// Why a model could not be loaded or a run could not complete.
public enum InferenceError: Error, Equatable, CustomStringConvertible {
    /// The bytes are not a valid ONNX model (not protobuf, missing graph, dangling value names, ...).
    case invalidModel(String)
    /// The model uses operators (or attributes, or types) this runtime does not implement; each entry names one.
    case unsupported([String])
    /// The inputs given to a run do not fit the model (names, types, shapes, byte counts).
    case invalidInput(String)
    /// A run would need more memory than a session may use.
    case resourceExhausted(String)
    /// A node failed in a way the inputs do not explain (a defect, not a caller error).
    case execution(node: String, message: String)

    public var description: String {
        switch self {
        case .invalidModel(let message): "invalid ONNX model: \(message)"
        case .unsupported(let items): "unsupported by this runtime: \(items.joined(separator: ", "))"
        case .invalidInput(let message): message
        case .resourceExhausted(let message): message
        case .execution(let node, let message): "node \(node): \(message)"
        }
    }
}
