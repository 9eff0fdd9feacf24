/// Runs a compiled tree ensemble over a batch: one raw score per (row, target) and whether any leaf wrote it.
///
/// Rows are split across `Parallelism`'s threads; a batch too small for that (one row, a handful) splits the trees
/// instead, each part summing into its own scratch, merged at the end. Immutable; shared by every session.
struct TreeEnsembleScorer: Sendable {
    let floatForest: CompiledForest<Float>
    let doubleForest: CompiledForest<Double>
    let aggregate: TreeAggregate
    let targetCount: Int
    let maxFeature: Int
    let label: String

    var treeCount: Int { floatForest.treeCount }

    init(_ spec: TreeEnsembleSpec, aggregate: TreeAggregate, label: String) throws {
        floatForest = try CompiledForest<Float>(spec)
        doubleForest = try CompiledForest<Double>(spec)
        self.aggregate = aggregate
        targetCount = spec.targetCount
        maxFeature = spec.maxFeature
        self.label = label
    }

    /// Bytes of weights held by the compiled layouts.
    var heldBytes: Int {
        func bytes<S>(_ forest: CompiledForest<S>) -> Int {
            forest.nodes.count * MemoryLayout<CompiledForest<S>.Node>.stride + forest.leafWeights.count * 12
                + forest.leafStart.count * 4 + forest.members.count * MemoryLayout<S>.stride
        }
        return bytes(floatForest) + bytes(doubleForest)
    }

    /// Raw scores of a batch: `values[row * targetCount + target]` (sum, min or max of the leaves' weights, 0 where
    /// no leaf wrote) and `written` (1 where some leaf did). Both live in the session's scratch: valid until the
    /// kernel returns.
    struct Scores {
        let rows: Int
        let values: UnsafeMutablePointer<Double>
        let written: UnsafeMutablePointer<UInt8>
    }

    /// The rows of `x` ([N, F] or one row [F]; float32, float64, int64 or int32).
    func rowCount(of x: Tensor) throws -> (rows: Int, features: Int) {
        switch x.rank {
        case 1: return (1, x.shape[0])
        case 2: return (x.shape[0], x.shape[1])
        default: throw InferenceError.invalidInput("\(label) takes [N, features] or [features], got \(x.shape)")
        }
    }

    func score(_ x: Tensor, _ io: NodeIO) throws -> Scores {
        let (rows, features) = try rowCount(of: x)
        guard features > maxFeature else {
            throw InferenceError.invalidInput("\(label) reads feature \(maxFeature), the input has \(features) per row")
        }
        let cells = rows * targetCount
        let trees = treeCount
        // Split rows when there are enough, else trees (parts > 1 only then): each tree part has its own sums.
        let rowParts = Parallelism.parts(rows, grain: 16)
        let treeParts = rowParts == 1 && rows * trees >= 256 ? Parallelism.parts(trees, grain: 64) : 1
        let cellBytes = (cells * 9 + 7) & ~7
        let converted = x.elementType == .int64 || x.elementType == .int32 ? x.count : 0
        // One scratch block, carved up: per tree part `cells` doubles then `cells` flags (padded to 8 bytes), then the
        // converted features. Safe: the block holds all of it plus the alignment slack, lives until this kernel
        // returns (the caller uses `Scores` only before then), and parts write disjoint regions (row parts: their
        // own rows; tree parts: their own buffers).
        let raw = try io.scratch(UInt8.self, count: cellBytes * treeParts + converted * 8 + 8)
        let aligned = UnsafeMutableRawPointer(raw).alignedUp(for: Double.self)
        func buffers(_ part: Int) -> (UnsafeMutablePointer<Double>, UnsafeMutablePointer<UInt8>) {
            let base = aligned + part * cellBytes
            return (base.bindMemory(to: Double.self, capacity: cells), (base + cells * 8).bindMemory(to: UInt8.self, capacity: cells))
        }
        for part in 0..<treeParts {
            let (values, written) = buffers(part)
            values.initialize(repeating: 0, count: cells)
            written.initialize(repeating: 0, count: cells)
        }

        func run<S>(_ forest: CompiledForest<S>, _ input: UnsafePointer<S>) {
            if treeParts > 1 {
                Parallelism.forEachChunk(trees, parts: treeParts) { part, treeRange in
                    let (values, written) = buffers(part)
                    accumulate(forest, input, features, 0..<rows, treeRange, values, written)
                }
                let (values, written) = buffers(0)
                for part in 1..<treeParts {
                    let (partValues, partWritten) = buffers(part)
                    for cell in 0..<cells where partWritten[cell] != 0 {
                        values[cell] = written[cell] == 0 ? partValues[cell] : combine(values[cell], partValues[cell])
                        written[cell] = 1
                    }
                }
            } else {
                let (values, written) = buffers(0)
                Parallelism.forEachChunk(rows, parts: rowParts) { _, rowRange in
                    // Blocks of rows that stay in cache while every tree passes over them.
                    var start = rowRange.lowerBound
                    while start < rowRange.upperBound {
                        let end = Swift.min(start + 64, rowRange.upperBound)
                        accumulate(forest, input, features, start..<end, 0..<trees, values, written)
                        start = end
                    }
                }
            }
        }

        switch x.elementType {
        case .float32: run(floatForest, x.elements(as: Float.self).baseAddress!)
        case .float64: run(doubleForest, x.elements(as: Double.self).baseAddress!)
        case .int64, .int32:
            let doubles = (aligned + cellBytes * treeParts).bindMemory(to: Double.self, capacity: converted)
            if x.elementType == .int64 {
                for (i, v) in x.elements(as: Int64.self).enumerated() { doubles[i] = Double(v) }
            } else {
                for (i, v) in x.elements(as: Int32.self).enumerated() { doubles[i] = Double(v) }
            }
            run(doubleForest, UnsafePointer(doubles))
        default:
            throw InferenceError.invalidInput("\(label) takes float32, float64, int64 or int32 features, got \(x.elementType)")
        }
        let (values, written) = buffers(0)
        return Scores(rows: rows, values: values, written: written)
    }

    @inline(__always)
    private func combine(_ a: Double, _ b: Double) -> Double {
        switch aggregate {
        case .sum, .average: a + b
        case .min: Swift.min(a, b)
        case .max: Swift.max(a, b)
        }
    }

    /// Adds the leaves rows `rows` reach in trees `trees` into `values` / `written`.
    @inline(__always)
    private func accumulate<S>(
        _ forest: CompiledForest<S>, _ input: UnsafePointer<S>, _ features: Int, _ rows: Range<Int>, _ trees: Range<Int>,
        _ values: UnsafeMutablePointer<Double>, _ written: UnsafeMutablePointer<UInt8>
    ) {
        let targets = targetCount
        let aggregate = self.aggregate
        forest.leafStart.withUnsafeBufferPointer { leafStart in
            forest.leafTargets.withUnsafeBufferPointer { leafTargets in
                forest.leafWeights.withUnsafeBufferPointer { leafWeights in
                    forest.walk(input, stride: features, rows: rows, trees: trees) { row, leaf in
                        for k in Int(leafStart[leaf])..<Int(leafStart[leaf + 1]) {
                            let cell = row * targets + Int(leafTargets[k])
                            let weight = leafWeights[k]
                            switch aggregate {
                            case .sum, .average: values[cell] += weight
                            case .min: values[cell] = written[cell] == 0 || weight < values[cell] ? weight : values[cell]
                            case .max: values[cell] = written[cell] == 0 || weight > values[cell] ? weight : values[cell]
                            }
                            written[cell] = 1
                        }
                    }
                }
            }
        }
    }
}
