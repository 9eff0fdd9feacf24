import Foundation

/// The kernel function of SVMRegressor / SVMClassifier (`kernel_type`, `kernel_params` = [gamma, coef0, degree]).
struct SVMKernelFunction: Sendable {
    enum Kind: Sendable { case linear, poly, rbf, sigmoid }
    let kind: Kind
    let gamma: Float
    let coef0: Float
    let degree: Float

    init(_ a: NodeAttributes, label: String) throws {
        let name = try a.string("kernel_type") ?? "LINEAR"
        switch name {
        case "LINEAR": kind = .linear
        case "POLY": kind = .poly
        case "RBF": kind = .rbf
        case "SIGMOID": kind = .sigmoid
        default: throw InferenceError.unsupported(["\(label) kernel_type \(name)"])
        }
        let params = try a.floats("kernel_params") ?? []
        gamma = params.count > 0 ? params[0] : 0
        coef0 = params.count > 1 ? params[1] : 0
        degree = params.count > 2 ? params[2] : 0
    }

    init(linear: Void) {
        kind = .linear
        gamma = 0
        coef0 = 0
        degree = 0
    }

    /// K(x, v) over `count` features.
    @inline(__always)
    func callAsFunction(_ x: UnsafePointer<Float>, _ v: UnsafePointer<Float>, count: Int) -> Float {
        switch kind {
        case .rbf:
            var sum: Float = 0
            for i in 0..<count {
                let d = x[i] - v[i]
                sum += d * d
            }
            return Foundation.exp(-gamma * sum)
        case .linear, .poly, .sigmoid:
            var dot: Float = 0
            for i in 0..<count { dot += x[i] * v[i] }
            switch kind {
            case .poly: return Foundation.pow(gamma * dot + coef0, degree)
            case .sigmoid: return Foundation.tanh(gamma * dot + coef0)
            default: return dot
            }
        }
    }
}

/// SVMRegressor (ai.onnx.ml): with support vectors (`n_supports` > 0), Σ coefᵢ·K(x, svᵢ) + rho; without, the
/// linear form coef·x + rho. `one_class` turns the score into ±1; PROBIT is the only transform of one score (as in
/// onnxruntime). [N, C] → [N, 1] float32.
struct SVMRegressorKernel: Kernel, HoldsWeights {
    let kernel: SVMKernelFunction
    let coefficients: [Float]
    let supportVectors: [Float]
    let supports: Int
    let rho: Float
    let oneClass: Bool
    let transform: ScoreTransform
    let label: String

    init(_ node: NodeDefinition) throws {
        try node.expectInputs(1)
        let a = node.attributes
        label = node.label
        coefficients = try a.floats("coefficients") ?? []
        supportVectors = try a.floats("support_vectors") ?? []
        supports = try a.int("n_supports", default: 0)
        rho = (try a.floats("rho") ?? [0]).first ?? 0
        oneClass = try a.int("one_class", default: 0) != 0
        transform = try ScoreTransform(a, label: node.label)
        let function = try SVMKernelFunction(a, label: node.label)
        kernel = supports > 0 ? function : SVMKernelFunction(linear: ())
        guard !coefficients.isEmpty, supports == 0 || (coefficients.count == supports && supportVectors.count % supports == 0) else {
            throw InferenceError.invalidModel("\(node.label): coefficients and support vectors do not fit n_supports \(supports)")
        }
    }

    var heldWeightBytes: Int { (coefficients.count + supportVectors.count) * 4 }

    func run(_ io: NodeIO) throws {
        let rows = try FeatureRows(try io.requiredInput(0), label: label)
        let features = supports > 0 ? supportVectors.count / supports : coefficients.count
        guard rows.columns == features else {
            throw InferenceError.invalidInput("\(label) expects \(features) features, the input has \(rows.columns)")
        }
        let y = try io.output(0, .float32, [rows.rows, 1]).mutableElements(as: Float.self)
        rows.withValues { x in
            coefficients.withUnsafeBufferPointer { coef in
                supportVectors.withUnsafeBufferPointer { sv in
                    Parallelism.forEachChunk(rows.rows, grain: 16) { _, range in
                        for r in range {
                            let row = x + r * features
                            var score: Float
                            if supports > 0 {
                                var sum: Double = 0
                                for j in 0..<supports {
                                    sum += Double(coef[j] * kernel(row, sv.baseAddress! + j * features, count: features))
                                }
                                score = Float(sum) + rho
                            } else {
                                score = kernel(row, coef.baseAddress!, count: features) + rho
                            }
                            if oneClass { score = score > 0 ? 1 : -1 }
                            y[r] = transform == .probit ? ScoreTransform.probit(score) : score
                        }
                    }
                }
            }
        }
    }
}

/// SVMClassifier (ai.onnx.ml), libsvm's one-against-one with onnxruntime's output rules: with support vectors each
/// pair of classes votes (the label is the most voted class), scores are the pairwise decision values or, with
/// `prob_a`/`prob_b`, Platt-scaled pairwise probabilities coupled into class probabilities; without support vectors
/// (liblinear) scores are coef_k·x + rho. Two classes give two score columns.
struct SVMClassifierKernel: Kernel, HoldsWeights {
    let kernel: SVMKernelFunction
    let coefficients: [Float]
    let supportVectors: [Float]
    let vectorsPerClass: [Int]
    let starts: [Int]
    let vectorCount: Int
    let rho: [Float]
    let probA: [Float]
    let probB: [Float]
    let labels: ClassLabels
    let transform: ScoreTransform
    let weightsArePositive: Bool
    let label: String

    var classCount: Int { labels.count }
    var isSVC: Bool { vectorCount > 0 }

    init(_ node: NodeDefinition) throws {
        try node.expectInputs(1)
        let a = node.attributes
        label = node.label
        labels = try ClassLabels(node, integers: "classlabels_ints")
        coefficients = try a.floats("coefficients") ?? []
        supportVectors = try a.floats("support_vectors") ?? []
        vectorsPerClass = try a.ints("vectors_per_class") ?? []
        rho = try a.floats("rho") ?? []
        probA = try a.floats("prob_a") ?? []
        probB = try a.floats("prob_b") ?? []
        transform = try ScoreTransform(a, label: node.label)
        vectorCount = vectorsPerClass.reduce(0, +)
        var starts: [Int] = []
        var start = 0
        for count in vectorsPerClass {
            starts.append(start)
            start += count
        }
        self.starts = starts
        let function = try SVMKernelFunction(a, label: node.label)
        kernel = vectorCount > 0 ? function : SVMKernelFunction(linear: ())
        weightsArePositive = coefficients.allSatisfy { $0 >= 0 }
        let classes = labels.count
        let pairs = classes * (classes - 1) / 2
        guard classes >= 2, !coefficients.isEmpty, probA.count == probB.count else {
            throw InferenceError.invalidModel("\(node.label) needs two or more class labels and coefficients")
        }
        if vectorCount > 0 {
            guard vectorsPerClass.count == classes, supportVectors.count % vectorCount == 0,
                  coefficients.count >= (classes - 1) * vectorCount, rho.count >= pairs,
                  probA.isEmpty || probA.count >= pairs
            else { throw InferenceError.invalidModel("\(node.label): support vectors, coefficients and rho do not fit") }
        } else {
            guard coefficients.count % classes == 0, !rho.isEmpty else {
                throw InferenceError.invalidModel("\(node.label): coefficients do not fit \(classes) classes")
            }
        }
    }

    var heldWeightBytes: Int { (coefficients.count + supportVectors.count) * 4 }

    func run(_ io: NodeIO) throws {
        let rows = try FeatureRows(try io.requiredInput(0), label: label)
        let features = isSVC ? supportVectors.count / vectorCount : coefficients.count / classCount
        guard rows.columns == features else {
            throw InferenceError.invalidInput("\(label) expects \(features) features, the input has \(rows.columns)")
        }
        let pairs = classCount * (classCount - 1) / 2
        let probabilities = isSVC && !probA.isEmpty
        let columns = isSVC && !probabilities ? (classCount > 2 ? pairs : 2) : classCount
        let labelOut = try labels.output(io, 0, rows: rows.rows)
        let scores = try io.output(1, .float32, [rows.rows, columns]).mutableElements(as: Float.self)
        let parts = Parallelism.parts(rows.rows, grain: 8)
        // Per part: kernel values, pairwise scores, votes, the pairwise probability matrix, Q, Qp.
        let perPart = vectorCount + pairs + classCount + 2 * classCount * classCount + classCount
        let scratch = try io.scratch(floats: parts * perPart)
        rows.withValues { x in
            Parallelism.forEachChunk(rows.rows, parts: parts) { part, range in
                let work = scratch + part * perPart
                for r in range {
                    let out = UnsafeMutableBufferPointer(start: scores.baseAddress! + r * columns, count: columns)
                    labelOut.set(r, classify(x + r * features, features, work, pairs, probabilities, out))
                }
            }
        }
    }

    /// Scores one row into `out` and returns its label.
    private func classify(
        _ x: UnsafePointer<Float>, _ features: Int, _ work: UnsafeMutablePointer<Float>, _ pairs: Int,
        _ probabilities: Bool, _ out: UnsafeMutableBufferPointer<Float>
    ) -> Int64 {
        let classes = classCount
        var best = 0
        var maxWeight: Float = 0
        if !isSVC {
            coefficients.withUnsafeBufferPointer { coef in
                for k in 0..<classes { out[k] = kernel(x, coef.baseAddress! + k * features, count: features) + rho[0] }
            }
            for k in 1..<classes where out[k] > out[best] { best = k }
            maxWeight = out[best]
        } else {
            let kernels = work, pairScores = work + vectorCount, votes = work + vectorCount + pairs
            supportVectors.withUnsafeBufferPointer { sv in
                for j in 0..<vectorCount { kernels[j] = kernel(x, sv.baseAddress! + j * features, count: features) }
            }
            for k in 0..<classes { votes[k] = 0 }
            var pair = 0
            for i in 0..<(classes - 1) {
                for j in (i + 1)..<classes {
                    var sum: Double = 0
                    for m in 0..<vectorsPerClass[i] {
                        sum += Double(coefficients[(j - 1) * vectorCount + starts[i] + m] * kernels[starts[i] + m])
                    }
                    for m in 0..<vectorsPerClass[j] {
                        sum += Double(coefficients[i * vectorCount + starts[j] + m] * kernels[starts[j] + m])
                    }
                    sum += Double(rho[pair])
                    pairScores[pair] = Float(sum)
                    votes[sum > 0 ? i : j] += 1
                    pair += 1
                }
            }
            for k in 1..<classes where votes[k] > votes[best] { best = k }
            if probabilities {
                let r = votes + classes
                coupleProbabilities(pairScores, r: r, q: r + classes * classes, qp: r + 2 * classes * classes, into: out)
            } else if classes > 2 {
                for p in 0..<pairs { out[p] = pairScores[p] }
            } else {
                out[0] = pairScores[0]
            }
        }
        // The label (onnxruntime's ChooseClass for two classes).
        let chosen: Int64
        if classes == 2 && probA.isEmpty {
            if weightsArePositive && maxWeight >= 0.5 || maxWeight > 0 && !weightsArePositive {
                chosen = labels[1]
            } else {
                chosen = labels[best]
            }
        } else {
            chosen = labels[best]
        }
        // Scores: the transform over a row of several, or the two columns of one binary decision value.
        if isSVC && !probabilities && classes == 2 {
            let s = out[0]
            if transform == .probit {
                out[0] = ScoreTransform.probit(s)
            } else if transform == .none {
                out[0] = -s
                out[1] = s
            } else {
                out[0] = 1 - s
                out[1] = s
            }
        } else {
            transform.apply(out)
        }
        return chosen
    }

    /// libsvm's pairwise coupling (Wu, Lin and Weng 2004, method 2) of Platt-scaled pairwise probabilities, in float
    /// as onnxruntime computes it. `r` and `q` hold classes² floats, `qp` classes.
    private func coupleProbabilities(
        _ pairScores: UnsafeMutablePointer<Float>, r: UnsafeMutablePointer<Float>, q: UnsafeMutablePointer<Float>,
        qp: UnsafeMutablePointer<Float>, into p: UnsafeMutableBufferPointer<Float>
    ) {
        let n = classCount
        for i in 0..<(n * n) { r[i] = 0 }
        var index = 0
        for i in 0..<(n - 1) {
            for j in (i + 1)..<n {
                let v = 1 - ScoreTransform.logistic(pairScores[index] * probA[index] + probB[index])
                let clipped = Swift.min(Swift.max(v, 1e-7), 1 - 1e-7)
                r[i * n + j] = clipped
                r[j * n + i] = 1 - clipped
                index += 1
            }
        }
        for i in 0..<(n * n) { q[i] = 0 }
        let eps = 0.005 / Float(n)
        for i in 0..<n {
            p[i] = 1 / Float(n)
            for j in 0..<i {
                q[i * n + i] += r[j * n + i] * r[j * n + i]
                q[i * n + j] = q[j * n + i]
            }
            for j in (i + 1)..<n {
                q[i * n + i] += r[j * n + i] * r[j * n + i]
                q[i * n + j] = -r[j * n + i] * r[i * n + j]
            }
        }
        for _ in 0..<100 {
            var pqp: Float = 0
            for i in 0..<n {
                qp[i] = 0
                for j in 0..<n { qp[i] += q[i * n + j] * p[j] }
                pqp += p[i] * qp[i]
            }
            var maxError: Float = 0
            for i in 0..<n { maxError = Swift.max(maxError, abs(qp[i] - pqp)) }
            if maxError < eps { break }
            for i in 0..<n {
                let diff = (-qp[i] + pqp) / q[i * n + i]
                p[i] += diff
                pqp = (pqp + diff * (diff * q[i * n + i] + 2 * qp[i])) / (1 + diff) / (1 + diff)
                for j in 0..<n {
                    qp[j] = (qp[j] + diff * q[i * n + j]) / (1 + diff)
                    p[j] /= (1 + diff)
                }
            }
        }
    }
}
