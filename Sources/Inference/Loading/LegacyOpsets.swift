/// How a node of a model importing a default-domain opset before 7 maps onto today's kernels.
///
/// The kernels follow opset 7 onwards. An operator whose definition did not change between the model's opset and 7
/// is built as at opset 7. One whose definition did change is either mapped (the kernel is told the model's opset
/// and reads the old attributes: `broadcast`/`axis` on arithmetic and comparisons, `is_test` on BatchNormalization
/// and Dropout, Reshape's `shape`, Pad's `paddings`, Concat's default axis, ...), or refused naming the node, the
/// operator version and the opset in which its meaning changed. `consumed_inputs` (versions 1–5: an in-place hint
/// without effect on the result) is accepted everywhere.
enum LegacyOpsets {
    /// The first opset at which the kernels' semantics apply; older opsets go through `kernelOpset`.
    static let modern = 7

    /// For each default-domain operator with a definition older than opset 7 that differs from its opset-7 one: the
    /// opsets in which its versions up to 7 began (ONNX's `since_version`s).
    static let versions: [String: [Int]] = [
        "Abs": [1, 6], "Add": [1, 6, 7], "And": [1, 7], "BatchNormalization": [1, 6, 7], "Cast": [1, 6],
        "Ceil": [1, 6], "Clip": [1, 6], "Concat": [1, 4], "Div": [1, 6, 7], "Dropout": [1, 6, 7], "Elu": [1, 6],
        "Equal": [1, 7], "Exp": [1, 6], "Floor": [1, 6], "GRU": [1, 3, 7], "Gemm": [1, 6, 7], "GlobalLpPool": [1, 2],
        "Greater": [1, 7], "HardSigmoid": [1, 6], "InstanceNormalization": [1, 6], "LSTM": [1, 7],
        "LeakyRelu": [1, 6], "Less": [1, 7], "Log": [1, 6], "LpPool": [1, 2], "Max": [1, 6], "Mean": [1, 6],
        "Min": [1, 6], "Mul": [1, 6, 7], "Neg": [1, 6], "Or": [1, 7], "PRelu": [1, 6, 7], "Pad": [1, 2],
        "Pow": [1, 7], "RNN": [1, 7], "Reciprocal": [1, 6], "Relu": [1, 6], "Reshape": [1, 5], "Selu": [1, 6],
        "Sigmoid": [1, 6], "Split": [1, 2], "Sqrt": [1, 6], "Sub": [1, 6, 7], "Sum": [1, 6], "Tanh": [1, 6],
        "Tile": [1, 6], "Upsample": [1, 7], "Xor": [1, 7],
    ]

    /// Operators whose kernels read their own pre-7 forms when given the model's opset: the arithmetic and
    /// comparison `broadcast`/`axis` attributes, Gemm's `broadcast`, BatchNormalization's and Dropout's `is_test`,
    /// Concat's optional axis, Reshape's `shape` attribute, Pad's `paddings`/`pads` attributes, Split's `split`
    /// attribute, Cast's string `to`, Upsample's `height_scale`/`width_scale`.
    static let mappedByKernel: Set<String> = [
        "Add", "Sub", "Mul", "Div", "Pow", "And", "Or", "Xor", "Equal", "Greater", "Less", "Gemm",
        "BatchNormalization", "Dropout", "Concat", "Reshape", "Pad", "Split", "Cast", "PRelu", "Upsample",
    ]

    /// Operators whose version 1 differs from version 6 only by `consumed_inputs`; built as at opset 7.
    static let consumedInputsOnly: Set<String> = [
        "Abs", "Ceil", "Clip", "Elu", "Exp", "Floor", "HardSigmoid", "InstanceNormalization", "LeakyRelu", "Log",
        "Max", "Mean", "Min", "Neg", "Reciprocal", "Relu", "Selu", "Sigmoid", "Sqrt", "Sum", "Tanh",
    ]

    /// The opset to build `opType`'s kernel for in a model importing `modelOpset` (< 7), reading `consumed_inputs`.
    ///
    /// - Throws: `InferenceError.unsupported` naming the node, the operator version and the opset in which its
    ///   meaning changed, for an old version no kernel maps.
    static func kernelOpset(_ opType: String, modelOpset: Int, attributes: NodeAttributes, label: String) throws -> Int {
        guard modelOpset < modern else { return modelOpset }
        if modelOpset < 6 {
            _ = attributes.has("consumed_inputs")
        }
        guard let history = versions[opType] else { return modern }
        let current = history.last { $0 <= modelOpset } ?? history[0]
        let atModern = history.last { $0 <= modern } ?? history[0]
        if current == atModern { return modern }
        if mappedByKernel.contains(opType) { return modelOpset }
        if consumedInputsOnly.contains(opType) && current == 1 && atModern == 6 { return modern }
        let next = history.first { $0 > current } ?? modern
        throw InferenceError.unsupported([
            "\(label): \(opType) version \(current) (the model imports opset \(modelOpset)); its meaning changed in "
                + "opset \(next) and this runtime implements \(opType) from version \(atModern) on",
        ])
    }
}

/// The `broadcast` and `axis` attributes of arithmetic and comparison operators before opset 7, mapped onto
/// multidirectional broadcasting: B is viewed with trailing 1s so that its dimensions line up from `axis` of A.
struct LegacyBroadcast: Sendable {
    /// Whether B may be broadcast (`broadcast` = 1); without it both inputs must have one shape.
    let enabled: Bool
    /// Where B's dimensions start in A's; nil aligns B with A's trailing dimensions.
    let axis: Int?

    /// The node's legacy broadcast attributes, or nil when the node's opset is 7 or later.
    init?(_ node: NodeDefinition) throws {
        guard node.opsetVersion < LegacyOpsets.modern else { return nil }
        enabled = try node.attributes.int("broadcast", default: 0) != 0
        axis = try node.attributes.int("axis")
    }

    /// B as multidirectional broadcasting must see it to follow the legacy rule.
    ///
    /// - Throws: `InferenceError.invalidInput` when the shapes do not fit the legacy rule.
    func align(_ a: Tensor, _ b: Tensor, _ opType: String) throws(InferenceError) -> Tensor {
        guard enabled else {
            guard a.shape == b.shape else {
                throw InferenceError.invalidInput(
                    "\(opType) without broadcast (opset < 7) needs equal shapes, got \(a.shape) and \(b.shape)")
            }
            return b
        }
        let start = axis.map { $0 < 0 ? $0 + a.rank : $0 } ?? (a.rank - b.rank)
        guard start >= 0, start + b.rank <= a.rank,
              zip(b.shape, a.shape[start...]).allSatisfy({ $0 == $1 || $0 == 1 })
        else {
            throw InferenceError.invalidInput(
                "\(opType) B of shape \(b.shape) does not broadcast onto A \(a.shape) at axis \(axis ?? start)")
        }
        return b.reshaped(b.shape + [Int](repeating: 1, count: a.rank - start - b.rank))
    }
}
