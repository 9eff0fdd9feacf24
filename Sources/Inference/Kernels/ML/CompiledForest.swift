/// A tree ensemble compiled for evaluation over `Scalar` features (Float for float32 inputs, Double otherwise).
///
/// Layout: every tree's nodes are contiguous in breadth-first order (the top levels, which every row visits, share
/// cache lines), 16 bytes per node for Float. The four ordered comparisons are rewritten at compile time into one,
/// `x <= threshold` (swapping the children for > and ≥, and lowering the threshold to the largest `Scalar` below
/// the model's value for <, which also folds a double threshold into a float comparison exactly), so the common
/// ensemble walks with one comparison per node and no branch on the mode. A NaN feature takes the branch the node's
/// flag says. Leaves point to themselves, so a group of lanes (rows × trees) steps together until none moves: sixteen
/// independent walks in flight hide the latency of each node load (measured on the zoo's forests: 16 lanes 25–40 %
/// faster than 8, 32 no faster than 16).
///
/// Immutable after `init`; shared by every session of the model.
struct CompiledForest<Scalar: BinaryFloatingPoint & Sendable>: Sendable {
    struct Node: Sendable {
        var threshold: Scalar
        /// Feature index (bits 0–27), comparison (bits 28–29: 0 `<=`, 1 `==`, 2 `!=`, 3 set membership) and whether
        /// NaN takes the true child (bit 31).
        var packed: UInt32
        var trueChild: Int32
        var falseChild: Int32

        @inline(__always) var feature: Int { Int(packed & 0x0FFF_FFFF) }
        @inline(__always) var comparison: UInt32 { (packed >> 28) & 3 }
        @inline(__always) var nanGoesTrue: Bool { packed & 0x8000_0000 != 0 }
    }

    private(set) var nodes: [Node] = []
    private(set) var roots: [Int32] = []
    private(set) var depths: [Int32] = []
    /// Leaf contributions of node `n`: `leafTargets/leafWeights[leafStart[n]..<leafStart[n + 1]]`.
    private(set) var leafStart: [Int32] = []
    private(set) var leafTargets: [Int32] = []
    private(set) var leafWeights: [Double] = []
    /// MEMBER sets: node `n` with comparison 3 reads `members[memberStart[n]..<memberStart[n + 1]]`.
    private(set) var memberStart: [Int32] = []
    private(set) var members: [Scalar] = []
    /// True when every node compares with `<=` (the walk then skips the per-node comparison switch).
    private(set) var orderedOnly = true

    var treeCount: Int { roots.count }

    init(_ spec: TreeEnsembleSpec) throws {
        var order: [Int] = []
        for (tree, root) in spec.roots.enumerated() {
            // Breadth-first renumbering of this tree's nodes; a node shared by two trees is copied into each.
            let start = order.count
            var local: [Int: Int32] = [:]
            var queue = [root]
            var head = 0
            local[root] = Int32(order.count)
            order.append(root)
            while head < queue.count {
                let index = queue[head]
                head += 1
                let node = spec.nodes[index]
                guard node.mode != .leaf else { continue }
                for child in [node.trueChild, node.falseChild] where local[child] == nil {
                    local[child] = Int32(order.count)
                    order.append(child)
                    queue.append(child)
                }
            }
            guard order.count < Int(Int32.max) else { throw InferenceError.unsupported(["a tree ensemble of 2³¹ nodes"]) }
            roots.append(Int32(start))
            depths.append(Int32(spec.depths[tree]))
            // Children of this tree's copies resolve through `local`.
            for position in start..<order.count {
                let source = spec.nodes[order[position]]
                try append(source, at: Int32(position), trueChild: local[source.trueChild], falseChild: local[source.falseChild])
            }
        }
        leafStart.append(Int32(leafTargets.count))
        memberStart.append(Int32(members.count))
    }

    private mutating func append(_ node: TreeEnsembleSpec.Node, at index: Int32, trueChild: Int32?, falseChild: Int32?) throws {
        leafStart.append(Int32(leafTargets.count))
        memberStart.append(Int32(members.count))
        if node.mode == .leaf {
            for (target, weight) in node.weights {
                leafTargets.append(Int32(target))
                leafWeights.append(weight)
            }
            nodes.append(Node(threshold: 0, packed: 0, trueChild: index, falseChild: index))
            return
        }
        var t = trueChild!, f = falseChild!
        var nanTrue = node.missingTracksTrue
        let threshold: Scalar
        var comparison: UInt32 = 0
        switch node.mode {
        case .lessOrEqual:
            threshold = Self.largest(atMost: node.value, strictly: false)
        case .less:
            threshold = Self.largest(atMost: node.value, strictly: true)
        case .greater:
            // x > v  ⟺  !(x <= v) for numbers; NaN must still go where the model says.
            threshold = node.value.isNaN ? .infinity : Self.largest(atMost: node.value, strictly: false)
            swap(&t, &f)
            nanTrue.toggle()
        case .greaterOrEqual:
            threshold = node.value.isNaN ? .infinity : Self.largest(atMost: node.value, strictly: true)
            swap(&t, &f)
            nanTrue.toggle()
        case .equal, .notEqual:
            // A value `Scalar` cannot hold exactly equals no feature value.
            let exact = Scalar(node.value)
            threshold = Double(exact) == node.value ? exact : .nan
            comparison = node.mode == .equal ? 1 : 2
            orderedOnly = false
        case .member:
            threshold = 0
            comparison = 3
            orderedOnly = false
            members.append(contentsOf: node.members.compactMap { value in
                let exact = Scalar(value)
                return Double(exact) == value ? exact : nil
            })
        case .leaf:
            fatalError("unreachable")
        }
        nodes.append(Node(
            threshold: threshold, packed: UInt32(node.feature) | comparison << 28 | (nanTrue ? 0x8000_0000 : 0),
            trueChild: t, falseChild: f))
    }

    /// The largest `Scalar` t' with `x <= t'` ⟺ `x <= value` (or `x < value` when `strictly`) for every `Scalar` x.
    static func largest(atMost value: Double, strictly: Bool) -> Scalar {
        if value.isNaN { return .nan }  // no number compares true with NaN
        if strictly && value == -.infinity { return .nan }
        var result = Scalar(value)
        if strictly ? Double(result) >= value : Double(result) > value { result = result.nextDown }
        return result
    }

    /// Walks rows `rows` (each `stride` features from `x`) through trees `trees`, handing each (row, leaf node) to
    /// `visit`. Lanes are taken tree-major (one tree serves a block of rows while it is in cache); with fewer rows
    /// than lanes, one group holds several trees.
    ///
    /// The step is branch-free: the comparison's outcome picks the child arithmetically, so an unpredictable split
    /// costs no misprediction. The caller checked that every row has more than `maxFeature` features.
    @inline(__always)
    func walk(
        _ x: UnsafePointer<Scalar>, stride: Int, rows: Range<Int>, trees: Range<Int>,
        _ visit: (_ row: Int, _ leaf: Int) -> Void
    ) {
        let laneCount = 16
        guard !rows.isEmpty, !trees.isEmpty else { return }
        // Pointer use is safe: lane buffers are this call's stack allocations; node indexes come from the compiled
        // layout (children validated at load, leaves self-looping); feature offsets stay inside a row because every
        // feature index is ≤ maxFeature < stride, checked by the caller. For the same reason the feature offset is
        // added without an overflow check (`&+`): the check sat on every step's dependency chain.
        withUnsafeTemporaryAllocation(of: Int32.self, capacity: laneCount) { current in
            withUnsafeTemporaryAllocation(of: Int.self, capacity: 2 * laneCount) { lanesAt in
                // Each lane's row, and the offset of that row's features.
                let laneRow = lanesAt.baseAddress!, laneBase = lanesAt.baseAddress! + laneCount
                nodes.withUnsafeBufferPointer { nodeBuffer in
                    let nodes = nodeBuffer.baseAddress!
                    var tree = trees.lowerBound, row = rows.lowerBound
                    while tree < trees.upperBound {
                        var lanes = 0
                        var steps: Int32 = 0
                        while lanes < laneCount && tree < trees.upperBound {
                            laneRow[lanes] = row
                            laneBase[lanes] = row * stride
                            current[lanes] = roots[tree]
                            steps = Swift.max(steps, depths[tree])
                            lanes += 1
                            row += 1
                            if row == rows.upperBound {
                                row = rows.lowerBound
                                tree += 1
                            }
                        }
                        if orderedOnly {
                            @inline(__always) func advance(_ count: Int) {
                                for _ in 0..<steps {
                                    var moved: Int32 = 0
                                    for lane in 0..<count {
                                        let index = current[lane]
                                        let node = nodes[Int(index)]
                                        let value = x[laneBase[lane] &+ node.feature]
                                        // 1 when the true child is taken: value <= threshold, or NaN routed true.
                                        let below: Int32 = value <= node.threshold ? 1 : 0
                                        let nan: Int32 = value.isNaN ? 1 : 0
                                        let take = below | (nan & Int32(bitPattern: node.packed >> 31))
                                        let next = node.falseChild &+ take &* (node.trueChild &- node.falseChild)
                                        moved |= next ^ index
                                        current[lane] = next
                                    }
                                    if moved == 0 { break }
                                }
                            }
                            if lanes == laneCount { advance(laneCount) } else { advance(lanes) }
                        } else {
                            for _ in 0..<steps {
                                for lane in 0..<lanes {
                                    let node = nodes[Int(current[lane])]
                                    let value = x[laneBase[lane] &+ node.feature]
                                    current[lane] = decide(node, Int(current[lane]), value) ? node.trueChild : node.falseChild
                                }
                            }
                        }
                        for lane in 0..<lanes { visit(laneRow[lane], Int(current[lane])) }
                    }
                }
            }
        }
    }

    @inline(__always)
    private func decide(_ node: Node, _ index: Int, _ value: Scalar) -> Bool {
        if node.nanGoesTrue && value.isNaN { return true }
        switch node.comparison {
        case 0: return value <= node.threshold
        case 1: return value == node.threshold
        case 2: return value != node.threshold
        default:
            let start = Int(memberStart[index]), end = Int(memberStart[index + 1])
            return members[start..<end].contains(value)
        }
    }
}
