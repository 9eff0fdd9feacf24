import Foundation

/// The Adam optimizer (Kingma & Ba) over a flat parameter vector, with optional L2 weight decay.
///
/// Deterministic: the same gradients give the same steps. One instance per parameter vector.
struct Adam {
    var learningRate: Double
    var beta1 = 0.9, beta2 = 0.999, epsilon = 1e-8
    var weightDecay = 0.0
    private var first: [Double], second: [Double]
    private var steps = 0

    init(count: Int, learningRate: Double) {
        self.learningRate = learningRate
        first = [Double](repeating: 0, count: count)
        second = first
    }

    mutating func step(_ parameters: inout [Double], gradient: [Double]) {
        steps += 1
        let correction1 = 1 - pow(beta1, Double(steps)), correction2 = 1 - pow(beta2, Double(steps))
        for i in parameters.indices {
            let g = gradient[i] + weightDecay * parameters[i]
            first[i] = beta1 * first[i] + (1 - beta1) * g
            second[i] = beta2 * second[i] + (1 - beta2) * g * g
            parameters[i] -= learningRate * (first[i] / correction1) / ((second[i] / correction2).squareRoot() + epsilon)
        }
    }

    /// The same update on Float parameters (the MLP's weights), with gradients in Float.
    mutating func step(_ parameters: inout [Float], gradient: [Float]) {
        steps += 1
        let correction1 = 1 - pow(beta1, Double(steps)), correction2 = 1 - pow(beta2, Double(steps))
        for i in parameters.indices {
            let g = Double(gradient[i]) + weightDecay * Double(parameters[i])
            first[i] = beta1 * first[i] + (1 - beta1) * g
            second[i] = beta2 * second[i] + (1 - beta2) * g * g
            parameters[i] -= Float(learningRate * (first[i] / correction1) / ((second[i] / correction2).squareRoot() + epsilon))
        }
    }
}
