/// The operators a runtime can build kernels for, by ONNX `op_type`: the default domain (`ai.onnx`) and the
/// classic-ML domain (`ai.onnx.ml`).
public struct OperatorRegistry: Sendable {
    /// The domain of scikit-learn, LightGBM and XGBoost exports (tree ensembles, linear models, encoders).
    public static let mlDomain = "ai.onnx.ml"

    private var factories: [String: KernelFactory]
    private var mlFactories: [String: KernelFactory]

    /// An empty registry; add operators with `register`.
    public init() {
        factories = [:]
        mlFactories = [:]
    }

    /// Adds or replaces the factory for `opType` in the default domain, or in `ai.onnx.ml` when `domain` says so.
    public mutating func register(_ opType: String, domain: String = "", _ factory: @escaping KernelFactory) {
        if domain == Self.mlDomain {
            mlFactories[opType] = factory
        } else {
            factories[opType] = factory
        }
    }

    func factory(for opType: String, domain: String = "") -> KernelFactory? {
        domain == Self.mlDomain ? mlFactories[opType] : factories[opType]
    }

    /// Every operator this registry builds, sorted; `ai.onnx.ml` ones as `ai.onnx.ml.OpType`.
    public var operators: [String] {
        (factories.keys.map { $0 } + mlFactories.keys.map { "\(Self.mlDomain).\($0)" }).sorted()
    }

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
        for op in SoftmaxOperator.allCases {
            registry.register(op.opType) { try SoftmaxKernel(op, $0) }
        }
        registry.register("Flatten", FlattenKernel.init)
        registry.register("Reshape", ReshapeKernel.init)
        registry.register("Identity", IdentityKernel.init)
        registry.register("Concat", ConcatKernel.init)
        registry.register("Constant", ConstantKernel.init)
        registry.registerTensorOperators()
        registry.registerAttentionOperators()
        registry.registerGeneratorOperators()
        registry.registerQuantizationOperators()
        registry.registerVisionAndSequenceOperators()
        registry.registerMachineLearningOperators()
        registry.registerControlFlowOperators()
        registry.registerSequenceOperators()
        registry.registerStringOperators()
        return registry
    }()
}
