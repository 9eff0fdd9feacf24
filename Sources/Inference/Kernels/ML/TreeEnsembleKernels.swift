/// How regressor scores are finished (aggregate, base values, post transform) the way onnxruntime does it: with one
/// target, the base value is `base_values[0]` when there is exactly one and only PROBIT transforms the score; with
/// several, base values apply only when there is one per target, and every transform applies to the row.
struct RegressionFinish: Sendable {
    let aggregate: TreeAggregate
    let baseValues: [Double]
    let transform: ScoreTransform
    let targetCount: Int
    let treeCount: Int

    /// Writes row `row` of `scores` into `out` (`targetCount` values).
    func finish(_ scores: TreeEnsembleScorer.Scores, row: Int, into out: UnsafeMutableBufferPointer<Double>) {
        let values = scores.values + row * targetCount, written = scores.written + row * targetCount
        if targetCount == 1 {
            let origin = baseValues.count == 1 ? baseValues[0] : 0
            var score: Double
            switch aggregate {
            case .sum: score = values[0] + origin
            case .average: score = values[0] / Double(treeCount) + origin
            case .min, .max: score = written[0] != 0 ? values[0] + origin : origin
            }
            if transform == .probit { score = Double(ScoreTransform.probit(Float(score))) }
            out[0] = score
            return
        }
        let useBase = baseValues.count == targetCount
        for t in 0..<targetCount {
            let base = useBase ? baseValues[t] : 0
            switch aggregate {
            case .sum: out[t] = values[t] + base
            case .average: out[t] = values[t] / Double(treeCount) + base
            case .min, .max: out[t] = base + (written[t] != 0 ? values[t] : 0)
            }
        }
        guard transform != .none else { return }
        withUnsafeTemporaryAllocation(of: Float.self, capacity: targetCount) { row in
            for t in 0..<targetCount { row[t] = Float(out[t]) }
            transform.apply(row)
            for t in 0..<targetCount { out[t] = Double(row[t]) }
        }
    }
}

/// TreeEnsembleRegressor (ai.onnx.ml opsets 1–3): [N, F] features → [N, n_targets] float32 scores.
struct TreeEnsembleRegressorKernel: Kernel, HoldsWeights {
    let scorer: TreeEnsembleScorer
    let finish: RegressionFinish

    init(_ node: NodeDefinition) throws {
        try node.expectInputs(1)
        let a = node.attributes
        guard let targets = try a.int("n_targets"), targets > 0 else {
            throw InferenceError.invalidModel("\(node.label) needs n_targets ≥ 1")
        }
        let spec = try TreeEnsembleSpec(legacy: a, weightPrefix: "target", targetCount: targets, label: node.label)
        let aggregateName = try a.string("aggregate_function") ?? "SUM"
        guard let aggregate = TreeAggregate(name: aggregateName) else {
            throw InferenceError.unsupported(["\(node.label) aggregate_function \(aggregateName)"])
        }
        scorer = try TreeEnsembleScorer(spec, aggregate: aggregate, label: node.label)
        finish = RegressionFinish(
            aggregate: aggregate, baseValues: try a.doubles("base_values") ?? [],
            transform: try ScoreTransform(a, label: node.label), targetCount: targets, treeCount: spec.roots.count)
    }

    var heldWeightBytes: Int { scorer.heldBytes }

    func run(_ io: NodeIO) throws {
        let x = try io.requiredInput(0)
        let scores = try scorer.score(x, io)
        let out = try io.output(0, .float32, [scores.rows, finish.targetCount]).mutableElements(as: Float.self)
        try writeRows(scores, finish, out, io)
    }
}

/// TreeEnsemble (ai.onnx.ml opset 5): [N, F] features → [N, n_targets] scores of the features' type (float32 or
/// float64), integer-coded modes, aggregate and transform, MEMBER nodes.
struct TreeEnsembleKernel: Kernel, HoldsWeights {
    let scorer: TreeEnsembleScorer
    let finish: RegressionFinish

    init(_ node: NodeDefinition) throws {
        try node.expectInputs(1)
        let a = node.attributes
        let spec = try TreeEnsembleSpec(opset5: a, label: node.label)
        let aggregateCode = try a.int("aggregate_function", default: 1)
        guard let aggregate = TreeAggregate(code: aggregateCode) else {
            throw InferenceError.invalidModel("\(node.label) aggregate_function \(aggregateCode)")
        }
        let transformCode = try a.int("post_transform", default: 0)
        guard let transform = ScoreTransform(code: transformCode) else {
            throw InferenceError.invalidModel("\(node.label) post_transform \(transformCode)")
        }
        scorer = try TreeEnsembleScorer(spec, aggregate: aggregate, label: node.label)
        finish = RegressionFinish(
            aggregate: aggregate, baseValues: [], transform: transform, targetCount: spec.targetCount,
            treeCount: spec.roots.count)
    }

    var heldWeightBytes: Int { scorer.heldBytes }

    func run(_ io: NodeIO) throws {
        let x = try io.requiredInput(0)
        guard x.elementType == .float32 || x.elementType == .float64 else {
            throw InferenceError.invalidInput("\(scorer.label) takes float32 or float64 features, got \(x.elementType)")
        }
        let scores = try scorer.score(x, io)
        let output = try io.output(0, x.elementType, [scores.rows, finish.targetCount])
        if x.elementType == .float64 {
            let out = output.mutableElements(as: Double.self)
            for row in 0..<scores.rows {
                finish.finish(scores, row: row, into: UnsafeMutableBufferPointer(rebasing: out[(row * finish.targetCount)...].prefix(finish.targetCount)))
            }
        } else {
            try writeRows(scores, finish, output.mutableElements(as: Float.self), io)
        }
    }
}

/// Finishes every row into float32 `out`.
private func writeRows(
    _ scores: TreeEnsembleScorer.Scores, _ finish: RegressionFinish, _ out: UnsafeMutableBufferPointer<Float>, _ io: NodeIO
) throws {
    let targets = finish.targetCount
    withUnsafeTemporaryAllocation(of: Double.self, capacity: targets) { row in
        for r in 0..<scores.rows {
            finish.finish(scores, row: r, into: row)
            for t in 0..<targets { out[r * targets + t] = Float(row[t]) }
        }
    }
}

/// TreeEnsembleClassifier (ai.onnx.ml opsets 1–3): [N, F] features → int64 (`classlabels_int64s`) or string
/// (`classlabels_strings`) labels [N] and float32 scores [N, classes], with onnxruntime's rules for two classes (one
/// class's weights standing for both, the second score made as 1 − p or −s).
struct TreeEnsembleClassifierKernel: Kernel, HoldsWeights {
    let scorer: TreeEnsembleScorer
    let labels: ClassLabels
    let baseValues: [Double]
    let transform: ScoreTransform
    let finish: ClassifierFinish

    init(_ node: NodeDefinition) throws {
        try node.expectInputs(1)
        let a = node.attributes
        let labels = try ClassLabels(node, integers: "classlabels_int64s")
        guard labels.count >= 2 else {
            throw InferenceError.unsupported(["\(node.label) with fewer than two class labels"])
        }
        self.labels = labels
        let spec = try TreeEnsembleSpec(legacy: a, weightPrefix: "class", targetCount: labels.count, label: node.label)
        scorer = try TreeEnsembleScorer(spec, aggregate: .sum, label: node.label)
        baseValues = try a.doubles("base_values") ?? []
        transform = try ScoreTransform(a, label: node.label)
        let classIDs = Set(try a.ints("class_ids") ?? [])
        let weights = try a.doubles("class_weights") ?? []
        finish = ClassifierFinish(
            labels: labels.values, baseValues: baseValues, transform: transform,
            singleClassWeights: classIDs.count == 1, weightsArePositive: weights.allSatisfy { $0 >= 0 })
    }

    var heldWeightBytes: Int { scorer.heldBytes }

    func run(_ io: NodeIO) throws {
        let x = try io.requiredInput(0)
        let scores = try scorer.score(x, io)
        let classes = labels.count
        let labelOut = try labels.output(io, 0, rows: scores.rows)
        let scoreOut = try io.output(1, .float32, [scores.rows, classes]).mutableElements(as: Float.self)
        for row in 0..<scores.rows {
            labelOut.set(row, finish.finish(
                scores.values + row * classes, scores.written + row * classes,
                into: UnsafeMutableBufferPointer(rebasing: scoreOut[(row * classes)..<((row + 1) * classes)])))
        }
    }
}
