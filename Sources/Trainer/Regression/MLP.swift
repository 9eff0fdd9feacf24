import COpenBLAS
import Foundation

/// A small fully connected network (ReLU hidden layers, one linear output) trained with mini-batch Adam on OpenBLAS.
///
/// Inputs are standardized with the training set's mean and deviation (kept, and exported as Sub/Div). Loss: mean
/// squared error, or logistic loss on the output logit. Deterministic for a seed (initialization and batch order
/// come from `SeededGenerator`; `fit` sets OpenBLAS to one thread, the setting ZServe's runtime also keeps, so
/// every product reduces in one order). `fit` is not thread-safe with other OpenBLAS users that change its thread count.
public struct MLP: Sendable {
    public enum Loss: Sendable { case squaredError, logistic }

    /// Layer sizes, input first, 1 last.
    public let sizes: [Int]
    /// Per layer: weights [in × out] row-major, bias [out].
    public var weights: [[Float]]
    public var biases: [[Float]]
    public var mean: [Float]
    public var deviation: [Float]

    public init(sizes: [Int], seed: UInt64) {
        self.sizes = sizes
        var generator = SeededGenerator(seed: seed)
        weights = zip(sizes, sizes.dropFirst()).map { fanIn, fanOut in
            (0..<(fanIn * fanOut)).map { _ in Float(generator.normal() * (2.0 / Double(fanIn)).squareRoot()) }
        }
        biases = sizes.dropFirst().map { [Float](repeating: 0, count: $0) }
        mean = [Float](repeating: 0, count: sizes[0])
        deviation = [Float](repeating: 1, count: sizes[0])
    }

    /// Training settings.
    public struct Schedule: Sendable {
        public var epochs = 10
        public var batchSize = 256
        public var learningRate = 1e-3
        public var weightDecay = 1e-5
        public init() {}
    }

    /// Fits the network to rows `x` (row-major, `sizes[0]` wide) and targets `y`; reports each epoch's loss.
    public mutating func fit(x: [Float], y: [Float], loss: Loss, schedule: Schedule, seed: UInt64, progress: Progress) {
        openblas_set_num_threads(1)
        let width = sizes[0], count = y.count
        precondition(x.count == count * width)
        standardizer(x)
        let standardized = standardize(x)
        var generator = SeededGenerator(seed: seed ^ 0x5EED)
        var parameters = flatten()
        var optimizer = Adam(count: parameters.count, learningRate: schedule.learningRate)
        optimizer.weightDecay = schedule.weightDecay
        var order = Array(0..<count)
        for epoch in 1...schedule.epochs {
            order.shuffle(using: &generator)
            var total = 0.0
            for start in stride(from: 0, to: count, by: schedule.batchSize) {
                let rows = order[start..<min(start + schedule.batchSize, count)]
                var batch = [Float](), targets = [Float]()
                batch.reserveCapacity(rows.count * width)
                for row in rows {
                    batch.append(contentsOf: standardized[row * width..<(row + 1) * width])
                    targets.append(y[row])
                }
                let (batchLoss, gradient) = lossAndGradient(batch, targets, loss: loss)
                total += batchLoss * Double(rows.count)
                optimizer.step(&parameters, gradient: gradient)
                unflatten(parameters)
            }
            progress.report(step: epoch, loss: total / Double(count), examples: epoch * count)
        }
    }

    /// Outputs for raw rows (before the logistic function for `.logistic` models).
    public func predict(_ x: [Float]) -> [Float] {
        forward(standardize(x)).last!
    }

    // MARK: - Internals

    private mutating func standardizer(_ x: [Float]) {
        let width = sizes[0], count = x.count / width
        for column in 0..<width {
            var sum = 0.0
            for row in 0..<count { sum += Double(x[row * width + column]) }
            let m = sum / Double(max(count, 1))
            var squares = 0.0
            for row in 0..<count { squares += pow(Double(x[row * width + column]) - m, 2) }
            mean[column] = Float(m)
            deviation[column] = Float(max((squares / Double(max(count, 1))).squareRoot(), 1e-6))
        }
    }

    private func standardize(_ x: [Float]) -> [Float] {
        let width = sizes[0]
        var out = x
        for index in out.indices { out[index] = (out[index] - mean[index % width]) / deviation[index % width] }
        return out
    }

    /// Activations of every layer for standardized rows (the last is the output, before any logistic function).
    private func forward(_ x: [Float]) -> [[Float]] {
        let rows = x.count / sizes[0]
        var activations = [x]
        for layer in 0..<weights.count {
            let fanIn = sizes[layer], fanOut = sizes[layer + 1]
            var out = [Float](repeating: 0, count: rows * fanOut)
            for row in 0..<rows { for j in 0..<fanOut { out[row * fanOut + j] = biases[layer][j] } }
            Self.gemm(rows, fanOut, fanIn, activations[layer], false, weights[layer], false, &out, beta: 1)
            if layer < weights.count - 1 { for i in out.indices where out[i] < 0 { out[i] = 0 } }
            activations.append(out)
        }
        return activations
    }

    /// Mean loss over the batch and the gradient of every parameter (flattened like `flatten()`).
    private func lossAndGradient(_ x: [Float], _ y: [Float], loss: Loss) -> (Double, [Float]) {
        let rows = y.count
        let activations = forward(x)
        let output = activations.last!
        var delta = [Float](repeating: 0, count: rows)
        var total = 0.0
        for row in 0..<rows {
            switch loss {
            case .squaredError:
                let error = output[row] - y[row]
                total += Double(error * error)
                delta[row] = 2 * error / Float(rows)
            case .logistic:
                let z = Double(output[row])
                total += max(z, 0) - z * Double(y[row]) + log1p(exp(-abs(z)))
                delta[row] = Float((1 / (1 + exp(-z)) - Double(y[row])) / Double(rows))
            }
        }
        var weightGradients = weights.map { [Float](repeating: 0, count: $0.count) }
        var biasGradients = biases.map { [Float](repeating: 0, count: $0.count) }
        for layer in stride(from: weights.count - 1, through: 0, by: -1) {
            let fanIn = sizes[layer], fanOut = sizes[layer + 1]
            // dW = Aᵀ δ, db = Σ δ, δ_prev = δ Wᵀ ⊙ ReLU'.
            Self.gemm(fanIn, fanOut, rows, activations[layer], true, delta, false, &weightGradients[layer], beta: 0)
            for row in 0..<rows { for j in 0..<fanOut { biasGradients[layer][j] += delta[row * fanOut + j] } }
            guard layer > 0 else { break }
            var previous = [Float](repeating: 0, count: rows * fanIn)
            Self.gemm(rows, fanIn, fanOut, delta, false, weights[layer], true, &previous, beta: 0)
            let a = activations[layer]
            for i in previous.indices where a[i] <= 0 { previous[i] = 0 }
            delta = previous
        }
        var gradient = [Float]()
        for layer in 0..<weights.count { gradient += weightGradients[layer] + biasGradients[layer] }
        return (total / Double(rows), gradient)
    }

    private func flatten() -> [Float] {
        var flat = [Float]()
        for layer in 0..<weights.count { flat += weights[layer] + biases[layer] }
        return flat
    }

    private mutating func unflatten(_ flat: [Float]) {
        var offset = 0
        for layer in 0..<weights.count {
            weights[layer] = Array(flat[offset..<offset + weights[layer].count])
            offset += weights[layer].count
            biases[layer] = Array(flat[offset..<offset + biases[layer].count])
            offset += biases[layer].count
        }
    }

    /// C[m×n] = op(A)·op(B) + beta·C, row-major; A is m×k (k×m when transposed), B is k×n (n×k when transposed).
    private static func gemm(_ m: Int, _ n: Int, _ k: Int, _ a: [Float], _ transA: Bool, _ b: [Float], _ transB: Bool,
                             _ c: inout [Float], beta: Float) {
        guard m > 0, n > 0, k > 0 else { return }
        cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                    Int32(m), Int32(n), Int32(k), 1, a, Int32(transA ? m : k), b, Int32(transB ? k : n), beta, &c, Int32(n))
    }
}
