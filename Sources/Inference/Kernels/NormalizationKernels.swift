import Foundation

/// BatchNormalization in inference mode on float32: y = (x − mean) / √(var + ε) · scale + B per channel of
/// [N, C, D1, ...]; optionally followed by a fused activation. training_mode 1 (opset ≥ 14), spatial 0 (opset < 9)
/// and is_test 0 (opset < 7) are refused.
struct BatchNormalizationKernel: ActivationFusing, DeclaresElementTypes {
    let epsilon: Float
    var activation: Activation?

    init(_ node: NodeDefinition) throws {
        try node.expectInputs(5)
        let attributes = node.attributes
        epsilon = try attributes.float("epsilon", default: 1e-5)
        // Only updates running statistics in training; inference ignores it.
        _ = try attributes.float("momentum", default: 0.9)
        if try attributes.int("training_mode", default: 0) != 0 {
            throw InferenceError.unsupported(["BatchNormalization training_mode 1"])
        }
        if try attributes.int("spatial", default: 1) != 1 {
            throw InferenceError.unsupported(["BatchNormalization spatial 0"])
        }
        if node.opsetVersion < LegacyOpsets.modern, try attributes.int("is_test", default: 0) == 0 {
            throw InferenceError.unsupported(["\(node.label): is_test 0 (training mode, opset \(node.opsetVersion))"])
        }
    }

    func run(_ io: NodeIO) throws {
        let x = try io.requiredInput(0)
        let parameters = try (1...4).map { try io.requiredInput($0) }
        for (position, input) in ([x] + parameters).enumerated() { try checkType(input, at: position, "BatchNormalization") }
        guard x.rank >= 2 else {
            throw InferenceError.invalidInput("BatchNormalization takes [N, C, ...], got \(x.shape)")
        }
        let channels = x.shape[1]
        for parameter in parameters where parameter.shape != [channels] {
            throw InferenceError.invalidInput(
                "BatchNormalization parameters must have shape [\(channels)], got \(parameter.shape)")
        }
        if io.outputIndexes.count > 1 {
            // Opset < 14 declares running mean / variance outputs; inference leaves them unchanged.
            guard io.outputIndexes.count <= 3 else {
                throw InferenceError.invalidInput("BatchNormalization saved mean / variance outputs are training-only")
            }
            try io.setOutput(1, parameters[2])
            if io.outputIndexes.count > 2 { try io.setOutput(2, parameters[3]) }
        }
        let y = try io.output(0, .float32, x.shape)
        guard y.count > 0 else { return }
        let (scale, bias, mean, variance) = (
            parameters[0].elements(as: Float.self), parameters[1].elements(as: Float.self),
            parameters[2].elements(as: Float.self), parameters[3].elements(as: Float.self))
        let plane = x.shape[2...].reduce(1, *)
        let batch = x.shape[0]
        let src = x.elements(as: Float.self).baseAddress!
        let dst = y.mutableElements(as: Float.self).baseAddress!
        for c in 0..<channels {
            let a = scale[c] / (variance[c] + epsilon).squareRoot()
            let b = bias[c] - mean[c] * a
            for n in 0..<batch {
                let offset = (n * channels + c) * plane
                let input = src + offset, output = dst + offset
                if activation == .relu {
                    for i in 0..<plane { output[i] = Swift.max(input[i] * a + b, 0) }
                } else {
                    for i in 0..<plane { output[i] = input[i] * a + b }
                    activation?.apply(UnsafeMutableBufferPointer(start: output, count: plane))
                }
            }
        }
    }
}

/// Dropout at inference: the output is the input (a view, no copy) and the optional mask is all true.
///
/// Opset ≥ 12 takes ratio and training_mode as inputs; a node wired to a training_mode input is refused at load,
/// since whether it trains is only known per request and this runtime only does inference. Opsets before 12 take
/// ratio as an attribute; their mask is bool (10–11) or of the input's type (7–9).
struct DropoutKernel: Kernel {
    let opsetVersion: Int

    init(_ node: NodeDefinition) throws {
        opsetVersion = node.opsetVersion
        if node.opsetVersion >= 12 {
            try node.expectInputs(1, 3)
            if node.inputCount == 3 {
                throw InferenceError.unsupported(["\(node.label): a training_mode input (inference only)"])
            }
            // The random seed only matters in training.
            _ = try node.attributes.int("seed")
        } else {
            try node.expectInputs(1)
            _ = try node.attributes.float("ratio", default: 0.5)
            if node.opsetVersion < LegacyOpsets.modern, try node.attributes.int("is_test", default: 0) == 0 {
                throw InferenceError.unsupported(["\(node.label): is_test 0 (training mode, opset \(node.opsetVersion))"])
            }
        }
    }

    func run(_ io: NodeIO) throws {
        let x = try io.requiredInput(0)
        try io.setOutput(0, x)
        if io.outputIndexes.count > 1 {
            if opsetVersion >= 10 {
                let mask = try io.output(1, .bool, x.shape)
                mask.mutableElements(as: UInt8.self).update(repeating: 1)
            } else {
                let mask = try io.output(1, x.elementType, x.shape)
                switch x.elementType {
                case .float32: mask.mutableElements(as: Float.self).update(repeating: 1)
                case .float64: mask.mutableElements(as: Double.self).update(repeating: 1)
                default: throw InferenceError.invalidInput("Dropout mask of \(x.elementType) is not supported")
                }
            }
        }
    }
}

extension BatchNormalizationKernel {
    /// X, scale, bias, mean and variance: float32.
    func acceptedTypes(input position: Int) -> Set<ElementType>? { DeclaredTypes.float32 }
}
