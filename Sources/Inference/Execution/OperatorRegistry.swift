/// The operators a runtime can build kernels for, by ONNX `op_type` (default domain).
public struct OperatorRegistry: Sendable {
    private var factories: [String: KernelFactory]

    /// An empty registry; add operators with `register`.
    public init() {
        factories = [:]
    }

    /// Adds or replaces the factory for `opType`.
    public mutating func register(_ opType: String, _ factory: @escaping KernelFactory) {
        factories[opType] = factory
    }

    func factory(for opType: String) -> KernelFactory? {
        factories[opType]
    }

    /// Every operator this registry builds, sorted.
    public var operators: [String] { factories.keys.sorted() }

    /// The operators ZServe implements.
    public static let standard: OperatorRegistry = {
        var registry = OperatorRegistry()
        registry.register("Gemm", GemmKernel.init)
        registry.register("MatMul", MatMulKernel.init)
        for op in BinaryOperator.allCases {
            registry.register(op.opType) { try BinaryKernel(op, $0) }
        }
        for activation in Activation.standalone {
            registry.register(activation.opType) { try ActivationKernel(activation, $0) }
        }
        registry.register("Softmax", SoftmaxKernel.init)
        registry.register("Flatten", FlattenKernel.init)
        registry.register("Reshape", ReshapeKernel.init)
        registry.register("Identity", IdentityKernel.init)
        registry.register("Concat", ConcatKernel.init)
        registry.register("Constant", ConstantKernel.init)
        registry.registerTensorOperators()
        registry.registerVisionAndSequenceOperators()
        return registry
    }()
}
