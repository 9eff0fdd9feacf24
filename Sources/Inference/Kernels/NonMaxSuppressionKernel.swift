/// NonMaxSuppression: per batch and class, boxes taken in decreasing score (ties: lower index first) above
/// `score_threshold`, each kept unless its IoU with an already kept box exceeds `iou_threshold`, at most
/// `max_output_boxes_per_class` (0 when absent) per class. Boxes [B, N, 4] as corners [y1, x1, y2, x2] (either
/// order) or, with `center_point_box` 1, [x center, y center, width, height]; scores [B, C, N]; float32. The output
/// is int64 [selected, 3] rows of (batch, class, box).
struct NonMaxSuppressionKernel: Kernel {
    let centerPoint: Bool

    init(_ node: NodeDefinition) throws {
        try node.expectInputs(2, 5)
        centerPoint = try node.attributes.int("center_point_box", default: 0) != 0
    }

    func run(_ io: NodeIO) throws {
        let boxes = try io.requiredInput(0), scores = try io.requiredInput(1)
        guard boxes.elementType == .float32, scores.elementType == .float32, boxes.rank == 3, boxes.shape[2] == 4,
              scores.rank == 3, scores.shape[0] == boxes.shape[0], scores.shape[2] == boxes.shape[1]
        else {
            throw InferenceError.invalidInput("NonMaxSuppression takes float32 boxes [B, N, 4] and scores [B, C, N], got \(boxes.shape) and \(scores.shape)")
        }
        let limit = try io.input(2).flatMap { $0.count > 0 ? try $0.integerList("max_output_boxes_per_class").first : nil } ?? 0
        func threshold(_ position: Int) throws -> Float? {
            guard let tensor = io.input(position), tensor.count > 0 else { return nil }
            guard tensor.elementType == .float32 else { throw InferenceError.invalidInput("NonMaxSuppression thresholds must be float32") }
            return tensor.elements(as: Float.self)[0]
        }
        let iouThreshold = try threshold(3) ?? 0, scoreThreshold = try threshold(4)
        let (batches, classes, count) = (scores.shape[0], scores.shape[1], boxes.shape[1])
        let (corners, values) = (boxes.elements(as: Float.self), scores.elements(as: Float.self))
        var selected: [(Int, Int, Int)] = []
        for b in 0..<batches {
            let extents = (0..<count).map { extent(corners, (b * count + $0) * 4) }
            for c in 0..<classes {
                let row = (b * classes + c) * count
                var candidates: [Int] = []
                for box in 0..<count where scoreThreshold.map({ values[row + box] > $0 }) ?? true { candidates.append(box) }
                candidates.sort { first, second in
                    let (p, q) = (values[row + first], values[row + second])
                    return p > q || (p == q && first < second)
                }
                var kept: [Int] = []
                for box in candidates where kept.count < Swift.max(limit, 0) {
                    if kept.allSatisfy({ !overlaps(extents[box], extents[$0], iouThreshold) }) {
                        kept.append(box)
                        selected.append((b, c, box))
                    }
                }
            }
        }
        let y = try io.output(0, .int64, [selected.count, 3])
        let out = y.mutableElements(as: Int64.self)
        for (i, (b, c, box)) in selected.enumerated() {
            (out[3 * i], out[3 * i + 1], out[3 * i + 2]) = (Int64(b), Int64(c), Int64(box))
        }
    }

    /// (x min, x max, y min, y max) of the box at `offset`.
    private func extent(_ data: UnsafeBufferPointer<Float>, _ offset: Int) -> (Float, Float, Float, Float) {
        let (a, b, c, d) = (data[offset], data[offset + 1], data[offset + 2], data[offset + 3])
        if centerPoint { return (a - c / 2, a + c / 2, b - d / 2, b + d / 2) }
        return (Swift.min(b, d), Swift.max(b, d), Swift.min(a, c), Swift.max(a, c))
    }

    /// Whether the boxes' intersection over union exceeds `threshold` (empty or degenerate boxes never do).
    private func overlaps(_ p: (Float, Float, Float, Float), _ q: (Float, Float, Float, Float), _ threshold: Float) -> Bool {
        let width = Swift.min(p.1, q.1) - Swift.max(p.0, q.0), height = Swift.min(p.3, q.3) - Swift.max(p.2, q.2)
        guard width > 0, height > 0 else { return false }
        let intersection = width * height
        let (first, second) = ((p.1 - p.0) * (p.3 - p.2), (q.1 - q.0) * (q.3 - q.2))
        let union = first + second - intersection
        guard first > 0, second > 0, union > 0 else { return false }
        return intersection / union > threshold
    }
}
