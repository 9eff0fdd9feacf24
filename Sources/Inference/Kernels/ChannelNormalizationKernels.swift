import Foundation

/// InstanceNormalization and GroupNormalization on float32 [N, C, D1, ...]: each image's channels, in groups (one
/// channel per group for InstanceNormalization), normalized to zero mean and unit variance over the group's channels
/// and spatial positions, then scaled and shifted per channel. GroupNormalization before opset 21 may give scale and
/// bias per group instead of per channel.
struct GroupNormalizationKernel: Kernel, DeclaresElementTypes {
    let instance: Bool
    let groups: Int
    let epsilon: Float
    var opType: String { instance ? "InstanceNormalization" : "GroupNormalization" }

    init(instance: Bool, _ node: NodeDefinition) throws {
        try node.expectInputs(3)
        self.instance = instance
        epsilon = try node.attributes.float("epsilon", default: 1e-5)
        if instance {
            groups = 0
        } else {
            guard let groups = try node.attributes.int("num_groups"), groups > 0 else {
                throw InferenceError.invalidModel("\(node.label) needs a positive num_groups attribute")
            }
            self.groups = groups
            let stash = try node.attributes.int("stash_type", default: 1)
            guard stash == 1 else { throw InferenceError.unsupported(["\(node.label): stash_type \(stash)"]) }
        }
    }

    func run(_ io: NodeIO) throws {
        let x = try io.requiredInput(0)
        let scale = try io.requiredInput(1), bias = try io.requiredInput(2)
        try checkTypes([x, scale, bias], opType)
        guard x.rank >= 2 else { throw InferenceError.invalidInput("\(opType) takes [N, C, ...], got \(x.shape)") }
        let channels = x.shape[1]
        let groups = instance ? channels : self.groups
        guard groups > 0, channels % groups == 0 else {
            throw InferenceError.invalidInput("\(opType): \(channels) channels do not split into \(groups) groups")
        }
        let perGroupParameters = !instance && scale.count == groups && groups != channels
        for parameter in [scale, bias] where parameter.count != (perGroupParameters ? groups : channels) || parameter.rank != 1 {
            throw InferenceError.invalidInput("\(opType) scale and bias must have shape [\(channels)], got \(parameter.shape)")
        }
        let y = try io.output(0, .float32, x.shape)
        guard x.count > 0 else { return }
        let plane = x.shape[2...].reduce(1, *)
        let groupChannels = channels / groups
        let length = groupChannels * plane
        let src = x.elements(as: Float.self).baseAddress!, dst = y.mutableElements(as: Float.self).baseAddress!
        let gamma = scale.elements(as: Float.self), beta = bias.elements(as: Float.self)
        let epsilon = self.epsilon
        Parallelism.forEachChunk(x.shape[0] * groups, grain: Swift.max(1, 8192 / Swift.max(length, 1))) { _, range in
            for group in range {
                let start = group * length
                let mean = length > 0 ? VectorLoop.sum(src + start, length) / Float(length) : 0
                let variance = length > 0 ? VectorLoop.sumOfSquares(src + start, length, around: mean) / Float(length) : 0
                let inverse = 1 / (variance + epsilon).squareRoot()
                for c in 0..<groupChannels {
                    let channel = (group % groups) * groupChannels + c
                    let parameter = perGroupParameters ? group % groups : channel
                    let a = gamma[parameter] * inverse, b = beta[parameter] - mean * a
                    let from = src + start + c * plane, to = dst + start + c * plane
                    for i in 0..<plane { to[i] = from[i] * a + b }
                }
            }
        }
    }
}

/// LRN (local response normalization across channels) on float32 [N, C, D1, ...]:
/// y = x / (bias + alpha / size · Σ x²)^beta, the sum over the `size` channels around each one (clipped at the edges).
struct LocalResponseNormalizationKernel: Kernel, DeclaresElementTypes {
    let size: Int
    let alpha: Float
    let beta: Float
    let bias: Float

    init(_ node: NodeDefinition) throws {
        try node.expectInputs(1)
        guard let size = try node.attributes.int("size"), size > 0 else {
            throw InferenceError.invalidModel("\(node.label) needs a positive size attribute")
        }
        self.size = size
        alpha = try node.attributes.float("alpha", default: 1e-4)
        beta = try node.attributes.float("beta", default: 0.75)
        bias = try node.attributes.float("bias", default: 1)
    }

    func run(_ io: NodeIO) throws {
        let x = try io.requiredInput(0)
        try checkType(x, at: 0, "LRN")
        guard x.rank >= 2 else { throw InferenceError.invalidInput("LRN takes [N, C, ...], got \(x.shape)") }
        let y = try io.output(0, .float32, x.shape)
        guard x.count > 0 else { return }
        let (batch, channels) = (x.shape[0], x.shape[1])
        let plane = x.shape[2...].reduce(1, *)
        let src = x.elements(as: Float.self).baseAddress!, dst = y.mutableElements(as: Float.self).baseAddress!
        let below = (size - 1) / 2, above = size - 1 - below
        let (alpha, beta, bias, size) = (self.alpha, self.beta, self.bias, self.size)
        Parallelism.forEachChunk(batch * channels, grain: Swift.max(1, 4096 / Swift.max(plane * size, 1))) { _, range in
            for image in range {
                let (n, c) = (image / channels, image % channels)
                let low = Swift.max(0, c - below), high = Swift.min(channels - 1, c + above)
                let to = dst + image * plane
                for i in 0..<plane {
                    var sum: Float = 0
                    for k in low...high {
                        let v = src[(n * channels + k) * plane + i]
                        sum += v * v
                    }
                    to[i] = src[image * plane + i] / Foundation.pow(bias + alpha / Float(size) * sum, beta)
                }
            }
        }
    }
}

extension GroupNormalizationKernel {
    /// X, scale and bias: float32.
    func acceptedTypes(input position: Int) -> Set<ElementType>? { DeclaredTypes.float32 }
}

extension LocalResponseNormalizationKernel {
    func acceptedTypes(input position: Int) -> Set<ElementType>? { DeclaredTypes.float32 }
}
