/// Scores x·Wᵀ + b for every row with one `cblas_sgemm` (W: [targets, features] as the model stores it).
private func linearScores(
    _ rows: FeatureRows, coefficients: [Float], intercepts: [Float], targets: Int, into out: UnsafeMutablePointer<Float>,
    label: String
) throws {
    guard rows.columns * targets == coefficients.count else {
        throw InferenceError.invalidInput(
            "\(label) has \(coefficients.count) coefficients for \(targets) targets, the input has \(rows.columns) features")
    }
    for r in 0..<rows.rows {
        for t in 0..<targets { out[r * targets + t] = intercepts.isEmpty ? 0 : intercepts[t] }
    }
    guard rows.rows > 0, rows.columns > 0 else { return }
    rows.withValues { x in
        coefficients.withUnsafeBufferPointer { w in
            BLAS.sgemm(
                transposeA: false, transposeB: true, m: rows.rows, n: targets, k: rows.columns, alpha: 1,
                a: x, lda: rows.columns, b: w.baseAddress!, ldb: rows.columns, beta: 1, c: out, ldc: targets)
        }
    }
}

/// LinearRegressor (ai.onnx.ml): [N, C] → [N, targets] float32, x·Wᵀ + b, then `post_transform` (with one target
/// only PROBIT applies, as in onnxruntime).
struct LinearRegressorKernel: Kernel, HoldsWeights {
    let coefficients: [Float]
    let intercepts: [Float]
    let targets: Int
    let transform: ScoreTransform
    let label: String

    init(_ node: NodeDefinition) throws {
        try node.expectInputs(1)
        let a = node.attributes
        coefficients = try a.floats("coefficients") ?? []
        intercepts = try a.floats("intercepts") ?? []
        targets = try a.int("targets", default: 1)
        transform = try ScoreTransform(a, label: node.label)
        label = node.label
        guard targets >= 1, !coefficients.isEmpty, coefficients.count % targets == 0,
              intercepts.isEmpty || intercepts.count == targets
        else { throw InferenceError.invalidModel("\(node.label): coefficients and intercepts do not fit \(targets) targets") }
    }

    var heldWeightBytes: Int { (coefficients.count + intercepts.count) * 4 }

    func run(_ io: NodeIO) throws {
        let rows = try FeatureRows(try io.requiredInput(0), label: label)
        let y = try io.output(0, .float32, [rows.rows, targets]).mutableElements(as: Float.self)
        try linearScores(rows, coefficients: coefficients, intercepts: intercepts, targets: targets, into: y.baseAddress!, label: label)
        if targets == 1 {
            if transform == .probit { for i in y.indices { y[i] = ScoreTransform.probit(y[i]) } }
        } else {
            transform.apply(rows: y.baseAddress!, count: rows.rows, columns: targets)
        }
    }
}

/// LinearClassifier (ai.onnx.ml): [N, C] → int64 or string labels [N] and float32 scores, onnxruntime's rules: with several
/// classes the label is the first highest raw score and `post_transform` applies to the row; with one coefficient row
/// the label is the positive one when the score is > 0, and two labels make two score columns [1 − s, s].
struct LinearClassifierKernel: Kernel, HoldsWeights {
    let coefficients: [Float]
    let intercepts: [Float]
    let labels: ClassLabels
    let classes: Int
    let transform: ScoreTransform
    let label: String

    init(_ node: NodeDefinition) throws {
        try node.expectInputs(1)
        let a = node.attributes
        labels = try ClassLabels(node, integers: "classlabels_ints")
        coefficients = try a.floats("coefficients") ?? []
        intercepts = try a.floats("intercepts") ?? []
        _ = try a.int("multi_class", default: 0)  // onnxruntime ignores it too: scores are per class either way
        transform = try ScoreTransform(a, label: node.label)
        label = node.label
        classes = intercepts.count
        guard classes >= 1, !coefficients.isEmpty, coefficients.count % classes == 0 else {
            throw InferenceError.invalidModel("\(node.label): coefficients and intercepts do not fit together")
        }
        guard classes == 1 || labels.count == classes else {
            throw InferenceError.invalidModel("\(node.label): \(classes) score columns but \(labels.count) class labels")
        }
    }

    var heldWeightBytes: Int { (coefficients.count + intercepts.count) * 4 }

    func run(_ io: NodeIO) throws {
        let rows = try FeatureRows(try io.requiredInput(0), label: label)
        let twoColumns = classes == 1 && labels.count == 2
        let columns = twoColumns ? 2 : classes
        let labelOut = try labels.output(io, 0, rows: rows.rows)
        let scores = try io.output(1, .float32, [rows.rows, columns]).mutableElements(as: Float.self)
        let raw = try io.scratch(floats: rows.rows * classes)
        try linearScores(rows, coefficients: coefficients, intercepts: intercepts, targets: classes, into: raw, label: label)
        for r in 0..<rows.rows {
            let row = raw + r * classes
            if classes == 1 {
                let s = row[0]
                labelOut.set(r, s > 0 ? (labels.count == 2 ? labels[1] : 1) : (labels.count == 2 ? labels[0] : 0))
                if transform == .probit {
                    scores[r * columns] = ScoreTransform.probit(s)
                    if twoColumns { scores[r * columns + 1] = 0 }
                } else if twoColumns {
                    scores[r * 2] = 1 - s
                    scores[r * 2 + 1] = s
                } else {
                    scores[r] = s
                }
                continue
            }
            var best = 0
            for k in 1..<classes where row[k] > row[best] { best = k }
            labelOut.set(r, labels[best])
            for k in 0..<classes { scores[r * classes + k] = row[k] }
        }
        if classes > 1 { transform.apply(rows: scores.baseAddress!, count: rows.rows, columns: classes) }
    }
}
