import Foundation

/// NegativeLogLikelihoodLoss and SoftmaxCrossEntropyLoss on float32 and float64 scores [N, C] or [N, C, D1, ...]
/// with int32/int64 class targets [N] or [N, D1, ...].
///
/// Each position's loss is −weight[t] · logp[n, t, d] for its target t (0 at `ignore_index`); `reduction` `none` keeps
/// them, `sum` adds them, `mean` (the default) divides the sum by the summed weights of the counted positions.
/// SoftmaxCrossEntropyLoss first takes the log-softmax of the scores over axis 1 (its optional second output). A
/// target outside [0, C) other than `ignore_index` is invalid input.
struct LossKernel: Kernel {
    enum Reduction: String { case none, sum, mean }

    /// SoftmaxCrossEntropyLoss (true) or NegativeLogLikelihoodLoss.
    let softmax: Bool
    let reduction: Reduction
    let ignoreIndex: Int?
    var opType: String { softmax ? "SoftmaxCrossEntropyLoss" : "NegativeLogLikelihoodLoss" }

    init(softmax: Bool, _ node: NodeDefinition) throws {
        try node.expectInputs(2, 3)
        self.softmax = softmax
        let name = try node.attributes.string("reduction") ?? "mean"
        guard let reduction = Reduction(rawValue: name) else {
            throw InferenceError.invalidModel("\(node.label): reduction '\(name)'")
        }
        self.reduction = reduction
        ignoreIndex = try node.attributes.int("ignore_index")
    }

    func run(_ io: NodeIO) throws {
        let scores = try io.requiredInput(0), target = try io.requiredInput(1)
        let weight = io.input(2)
        guard scores.rank >= 2, target.shape == [scores.shape[0]] + scores.shape[2...] else {
            throw InferenceError.invalidInput("\(opType) takes scores [N, C, ...] and targets [N, ...], got \(scores.shape) and \(target.shape)")
        }
        guard let classes = target.integers() else {
            throw InferenceError.invalidInput("\(opType) targets must be int32 or int64, got \(target.elementType)")
        }
        let c = scores.shape[1]
        if let weight, weight.shape != [c] || weight.elementType != scores.elementType {
            throw InferenceError.invalidInput("\(opType) weights must be \(scores.elementType) [\(c)], got \(weight.elementType) \(weight.shape)")
        }
        switch scores.elementType {
        case .float32: try compute(Float.self, scores, classes, target.shape, weight, io)
        case .float64: try compute(Double.self, scores, classes, target.shape, weight, io)
        default: throw InferenceError.invalidInput("\(opType) does not take \(scores.elementType)")
        }
    }

    private func compute<T: BinaryFloatingPoint>(
        _: T.Type, _ scores: Tensor, _ classes: [Int], _ targetShape: [Int], _ weight: Tensor?, _ io: NodeIO
    ) throws {
        let (n, c) = (scores.shape[0], scores.shape[1])
        let inner = scores.shape[2...].reduce(1, *)
        var logProbabilities = scores.elements(as: T.self)
        if softmax {
            // log-softmax over the classes of each (n, d), in double precision.
            let out = try io.outputIndexes.count > 1
                ? io.output(1, scores.elementType, scores.shape).mutableElements(as: T.self)
                : UnsafeMutableBufferPointer(start: try io.scratch(T.self, count: scores.count), count: scores.count)
            for image in 0..<n {
                for d in 0..<inner {
                    let base = image * c * inner + d
                    var maximum = -Double.infinity
                    for k in 0..<c { maximum = Swift.max(maximum, Double(logProbabilities[base + k * inner])) }
                    var sum = 0.0
                    for k in 0..<c { sum += Foundation.exp(Double(logProbabilities[base + k * inner]) - maximum) }
                    let shift = maximum + Foundation.log(sum)
                    for k in 0..<c { out[base + k * inner] = T(Double(logProbabilities[base + k * inner]) - shift) }
                }
            }
            logProbabilities = UnsafeBufferPointer(out)
        }
        let weights = weight?.elements(as: T.self)
        var losses = [Double](repeating: 0, count: classes.count)
        var weightSum = 0.0
        for image in 0..<n {
            for d in 0..<inner {
                let position = image * inner + d
                let t = classes[position]
                if t == ignoreIndex { continue }
                guard t >= 0 && t < c else {
                    throw InferenceError.invalidInput("\(opType) target \(t) is outside [0, \(c))")
                }
                let w = weights.map { Double($0[t]) } ?? 1
                losses[position] = -w * Double(logProbabilities[(image * c + t) * inner + d])
                weightSum += w
            }
        }
        switch reduction {
        case .none:
            let y = try io.output(0, scores.elementType, targetShape)
            let out = y.mutableElements(as: T.self)
            for i in 0..<losses.count { out[i] = T(losses[i]) }
        case .sum, .mean:
            let y = try io.output(0, scores.elementType, [])
            let total = losses.reduce(0, +)
            y.mutableElements(as: T.self)[0] = T(reduction == .sum ? total : total / weightSum)
        }
    }
}
