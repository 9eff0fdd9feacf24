/// One node's computation, built once when the model loads and shared by every session.
///
/// Kernels are immutable (hence `Sendable`): per-run state lives in the `Session` and reaches the kernel through
/// `NodeIO`. A kernel computes its output shapes from its inputs, asks `NodeIO` for output tensors (reused between runs)
/// and fills them.
public protocol Kernel: Sendable {
    /// Runs the node. Throws `InferenceError.invalidInput` (or any error) when the inputs do not fit; the session adds
    /// the node's name.
    func run(_ io: NodeIO) throws

    /// A kernel that also applies `activation` to its output, or nil when it cannot fuse it.
    func fusing(_ activation: Activation) -> Kernel?
}

extension Kernel {
    public func fusing(_ activation: Activation) -> Kernel? { nil }
}

/// A kernel that declares which element types its inputs may have, so that a model whose values it cannot take is
/// refused when it loads (`ElementTypeFlow`, naming the node and input) instead of failing every request.
///
/// `run` checks its inputs against the same declaration, so the two cannot disagree; a kernel that takes any type at a
/// position (or checks a type relation, such as "both inputs alike", only at run time) answers nil there.
protocol DeclaresElementTypes {
    /// The element types input `position` may have, or nil when the kernel takes any type there.
    func acceptedTypes(input position: Int) -> Set<ElementType>?

    /// Input positions that must all have one type (those present), if any.
    var alikeInputs: Range<Int>? { get }
}

extension DeclaresElementTypes {
    var alikeInputs: Range<Int>? { nil }

    /// Throws the run-time form of the load check: `input` (at `position`) is not of a declared type.
    func checkType(_ input: Tensor, at position: Int, _ opType: String) throws(InferenceError) {
        guard let accepted = acceptedTypes(input: position), !accepted.contains(input.elementType) else { return }
        throw .invalidInput("\(opType) input \(position) is \(input.elementType); it computes on \(accepted.sortedNames) only")
    }

    /// `checkType` for each present input, `inputs[i]` being input i.
    func checkTypes(_ inputs: [Tensor?], _ opType: String) throws(InferenceError) {
        for (position, input) in inputs.enumerated() {
            if let input { try checkType(input, at: position, opType) }
        }
    }
}

/// The type sets kernels declare most, built once: `run` checks against them on every request.
enum DeclaredTypes {
    static let float32: Set<ElementType> = [.float32]
    static let floats: Set<ElementType> = [.float32, .float64]
}

extension Set<ElementType> {
    /// The types' names in ONNX's numbering order, comma-separated: "float32, float64".
    var sortedNames: String {
        sorted { $0.rawValue < $1.rawValue }.map(\.name).joined(separator: ", ")
    }
}

/// A kernel that can apply an activation in its own output loop: fusing one sets `activation`, once.
protocol ActivationFusing: Kernel {
    var activation: Activation? { get set }
}

extension ActivationFusing {
    func fusing(_ activation: Activation) -> Kernel? {
        guard self.activation == nil else { return nil }
        var fused = self
        fused.activation = activation
        return fused
    }
}

/// A kernel that keeps constant tensors of its own (weights prepared at load, a fused bias), counted in the model's
/// weight bytes.
protocol HoldsWeights {
    var heldWeightBytes: Int { get }
}

/// What a kernel factory sees of its node when the model loads.
public struct NodeDefinition {
    /// The operator, e.g. "Gemm".
    public let opType: String
    /// The opset the model imports for the node's domain; kernels choose attribute-vs-input forms by it.
    public let opsetVersion: Int
    /// The node's domain: "" (default) or `OperatorRegistry.mlDomain`.
    public var domain: String = ""
    public let attributes: NodeAttributes
    /// Number of input slots (absent optional inputs included).
    public let inputCount: Int
    /// Number of output slots (unused ones included).
    public let outputCount: Int
    /// "Gemm 'fc1'" — for messages.
    public let label: String
    /// Plans the node's graph attributes (the bodies of If, Loop and Scan); nil when it has none.
    var subgraphs: SubgraphPlanner? = nil

    /// Fails unless the node has between `min` and `max` inputs.
    public func expectInputs(_ min: Int, _ max: Int? = nil) throws {
        let max = max ?? min
        guard (min...max).contains(inputCount) else {
            let wanted = min == max ? "\(min)" : "\(min) to \(max)"
            throw InferenceError.invalidModel("\(label) takes \(wanted) inputs, has \(inputCount)")
        }
    }
}

/// A function building a kernel for one node, throwing `InferenceError.unsupported` for forms it does not implement.
public typealias KernelFactory = @Sendable (NodeDefinition) throws -> Kernel
