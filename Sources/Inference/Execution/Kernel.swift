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
