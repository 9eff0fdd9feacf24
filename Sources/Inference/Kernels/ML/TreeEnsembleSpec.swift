/// How a tree node routes a row: a comparison of one feature with the node's value, or a leaf.
enum TreeNodeMode: Sendable, Equatable {
    case lessOrEqual, less, greaterOrEqual, greater, equal, notEqual, member, leaf

    /// The mode named by the string form (opsets 1–3 `nodes_modes`).
    init?(name: String) {
        switch name {
        case "BRANCH_LEQ": self = .lessOrEqual
        case "BRANCH_LT": self = .less
        case "BRANCH_GTE": self = .greaterOrEqual
        case "BRANCH_GT": self = .greater
        case "BRANCH_EQ": self = .equal
        case "BRANCH_NEQ": self = .notEqual
        case "LEAF": self = .leaf
        default: return nil
        }
    }

    /// The mode numbered by TreeEnsemble (ai.onnx.ml opset 5) `nodes_modes`.
    init?(code: Int) {
        let modes: [TreeNodeMode] = [.lessOrEqual, .less, .greaterOrEqual, .greater, .equal, .notEqual, .member]
        guard modes.indices.contains(code) else { return nil }
        self = modes[code]
    }
}

/// How the leaves reached in each tree combine into one score per target.
enum TreeAggregate: Sendable, Equatable {
    case sum, average, min, max

    init?(name: String) {
        switch name {
        case "SUM": self = .sum
        case "AVERAGE": self = .average
        case "MIN": self = .min
        case "MAX": self = .max
        default: return nil
        }
    }

    /// TreeEnsemble (opset 5) numbering: 0 AVERAGE, 1 SUM, 2 MIN, 3 MAX.
    init?(code: Int) {
        let all: [TreeAggregate] = [.average, .sum, .min, .max]
        guard all.indices.contains(code) else { return nil }
        self = all[code]
    }
}

/// A validated tree ensemble in one form for all three ONNX operators (TreeEnsembleRegressor, TreeEnsembleClassifier,
/// TreeEnsemble): nodes with their children, each tree's root, and the (target, weight) pairs of each leaf.
///
/// Built once when the model loads; every structural problem (a child that does not exist, a cycle, a target out of
/// range) is an `InferenceError.invalidModel` naming the node, so a run never meets a malformed tree.
struct TreeEnsembleSpec: Sendable {
    struct Node: Sendable {
        var mode: TreeNodeMode
        var feature: Int
        /// The value the feature is compared with (exactly as the model gives it, float or double).
        var value: Double
        var trueChild: Int
        var falseChild: Int
        /// Whether a NaN feature takes the true branch (otherwise NaN follows the comparison, which is false
        /// except for BRANCH_NEQ).
        var missingTracksTrue: Bool
        /// The set of a MEMBER node.
        var members: [Double] = []
        /// A leaf's contributions: (target or class index, weight).
        var weights: [(target: Int, weight: Double)] = []
    }

    var nodes: [Node] = []
    /// Index of each tree's root in `nodes`, in the trees' order.
    var roots: [Int] = []
    /// Number of score columns: targets of a regressor, classes of a classifier.
    var targetCount = 0
    /// Longest root-to-leaf path (in edges) of each tree.
    var depths: [Int] = []
    /// The largest feature index any node reads (−1 when every tree is a single leaf).
    var maxFeature = -1

    /// Checks children, targets and features, finds cycles, and records each tree's depth.
    mutating func validate(label: String) throws {
        guard !roots.isEmpty else { throw InferenceError.invalidModel("\(label) has no trees") }
        for (index, node) in nodes.enumerated() {
            if node.mode == .leaf {
                for (target, _) in node.weights where !(0..<targetCount).contains(target) {
                    throw InferenceError.invalidModel(
                        "\(label): leaf \(index) writes target \(target), outside 0..<\(targetCount)")
                }
                continue
            }
            guard nodes.indices.contains(node.trueChild), nodes.indices.contains(node.falseChild) else {
                throw InferenceError.invalidModel("\(label): node \(index) has a child that does not exist")
            }
            guard node.feature >= 0, node.feature < 1 << 28 else {
                throw InferenceError.invalidModel("\(label): node \(index) reads feature \(node.feature)")
            }
            maxFeature = Swift.max(maxFeature, node.feature)
        }
        // Depth of every node below each root, iteratively; a path longer than the node count is a cycle.
        depths = []
        for root in roots {
            guard nodes.indices.contains(root) else { throw InferenceError.invalidModel("\(label): a tree root does not exist") }
            var deepest = 0
            var stack = [(root, 0)]
            while let (index, depth) = stack.popLast() {
                guard depth <= nodes.count else {
                    throw InferenceError.invalidModel("\(label): the tree rooted at node \(root) has a cycle")
                }
                let node = nodes[index]
                if node.mode == .leaf {
                    deepest = Swift.max(deepest, depth)
                } else {
                    stack.append((node.trueChild, depth + 1))
                    stack.append((node.falseChild, depth + 1))
                }
            }
            depths.append(deepest)
        }
    }
}

extension NodeAttributes {
    /// A float list given as FLOATS (`name`) or as a float/double tensor (`name_as_tensor`), as doubles; nil when the
    /// node sets neither.
    func doubles(_ name: String) throws -> [Double]? {
        let plain = try floats(name)
        let tensor = try tensor(name + "_as_tensor")
        if plain != nil && tensor != nil {
            throw InferenceError.invalidModel("\(nodeLabel) sets both \(name) and \(name)_as_tensor")
        }
        if let plain { return plain.map(Double.init) }
        guard let tensor else { return nil }
        return try tensor.doubleValues(label: "\(nodeLabel) \(name)_as_tensor")
    }
}

extension Tensor {
    /// The elements of a float32 or float64 tensor as doubles.
    func doubleValues(label: String) throws -> [Double] {
        switch elementType {
        case .float32: return elements(as: Float.self).map(Double.init)
        case .float64: return Array(elements(as: Double.self))
        default: throw InferenceError.unsupported(["\(label) of type \(elementType)"])
        }
    }
}

extension TreeEnsembleSpec {
    /// The ensemble of TreeEnsembleRegressor / TreeEnsembleClassifier (ai.onnx.ml opsets 1–3): nodes named by
    /// (tree id, node id), leaves' weights listed by `prefix` ("target" or "class") in separate arrays.
    init(legacy a: NodeAttributes, weightPrefix prefix: String, targetCount: Int, label: String) throws {
        func required(_ name: String) throws -> [Int] {
            guard let values = try a.ints(name) else { throw InferenceError.invalidModel("\(label) needs \(name)") }
            return values
        }
        let treeIDs = try required("nodes_treeids"), nodeIDs = try required("nodes_nodeids")
        let features = try required("nodes_featureids")
        let trueIDs = try required("nodes_truenodeids"), falseIDs = try required("nodes_falsenodeids")
        guard let modeNames = try a.strings("nodes_modes") else { throw InferenceError.invalidModel("\(label) needs nodes_modes") }
        let values = try a.doubles("nodes_values") ?? []
        let missing = try a.ints("nodes_missing_value_tracks_true") ?? []
        _ = try a.doubles("nodes_hitrates")  // a hint for node ordering; the compiled layout does not need it
        let count = treeIDs.count
        guard [nodeIDs.count, features.count, trueIDs.count, falseIDs.count, modeNames.count].allSatisfy({ $0 == count }),
              values.count == count || (values.isEmpty && modeNames.allSatisfy { $0 == "LEAF" }),
              missing.isEmpty || missing.count == count
        else { throw InferenceError.invalidModel("\(label): the nodes_* attributes differ in length") }

        struct Key: Hashable { let tree: Int, node: Int }
        var position: [Key: Int] = [:]
        var rootsSeen: [Int: Int] = [:]
        self.init()
        self.targetCount = targetCount
        for i in 0..<count {
            let key = Key(tree: treeIDs[i], node: nodeIDs[i])
            guard position.updateValue(i, forKey: key) == nil else {
                throw InferenceError.invalidModel("\(label): node \(nodeIDs[i]) of tree \(treeIDs[i]) is defined twice")
            }
            if rootsSeen[treeIDs[i]] == nil {
                rootsSeen[treeIDs[i]] = i
                roots.append(i)
            }
        }
        for i in 0..<count {
            guard let mode = TreeNodeMode(name: modeNames[i]) else {
                throw InferenceError.unsupported(["\(label) node mode \(modeNames[i])"])
            }
            var node = Node(
                mode: mode, feature: features[i], value: values.isEmpty ? 0 : values[i], trueChild: -1, falseChild: -1,
                missingTracksTrue: !missing.isEmpty && missing[i] != 0)
            if mode != .leaf {
                guard let t = position[Key(tree: treeIDs[i], node: trueIDs[i])],
                      let f = position[Key(tree: treeIDs[i], node: falseIDs[i])]
                else { throw InferenceError.invalidModel("\(label): node \(nodeIDs[i]) of tree \(treeIDs[i]) has a child that does not exist") }
                guard t != i, f != i else {
                    throw InferenceError.invalidModel("\(label): node \(nodeIDs[i]) of tree \(treeIDs[i]) points to itself")
                }
                node.trueChild = t
                node.falseChild = f
            }
            nodes.append(node)
        }

        let weightTrees = try required("\(prefix)_treeids"), weightNodes = try required("\(prefix)_nodeids")
        let weightTargets = try required("\(prefix)_ids")
        let weights = try a.doubles("\(prefix)_weights") ?? []
        guard weightNodes.count == weightTrees.count, weightTargets.count == weightTrees.count, weights.count == weightTrees.count else {
            throw InferenceError.invalidModel("\(label): the \(prefix)_* attributes differ in length")
        }
        for i in weightTrees.indices {
            guard let leaf = position[Key(tree: weightTrees[i], node: weightNodes[i])] else {
                throw InferenceError.invalidModel("\(label): a weight names node \(weightNodes[i]) of tree \(weightTrees[i]), which does not exist")
            }
            // onnxruntime ignores weights on branch nodes (old onnxmltools exports wrote some); so does this runtime.
            guard nodes[leaf].mode == .leaf else { continue }
            nodes[leaf].weights.append((weightTargets[i], weights[i]))
        }
        try validate(label: label)
    }

    /// The ensemble of TreeEnsemble (ai.onnx.ml opset 5): branch nodes and leaves in separate arrays, children
    /// flagged as leaves by `nodes_trueleafs` / `nodes_falseleafs`, MEMBER sets NaN-separated in `membership_values`.
    init(opset5 a: NodeAttributes, label: String) throws {
        func required(_ name: String) throws -> [Int] {
            guard let values = try a.ints(name) else { throw InferenceError.invalidModel("\(label) needs \(name)") }
            return values
        }
        let features = try required("nodes_featureids")
        let trueIDs = try required("nodes_truenodeids"), falseIDs = try required("nodes_falsenodeids")
        let trueLeafs = try required("nodes_trueleafs"), falseLeafs = try required("nodes_falseleafs")
        let treeRoots = try required("tree_roots")
        let leafTargets = try required("leaf_targetids")
        guard let modeTensor = try a.tensor("nodes_modes"), modeTensor.elementType == .uint8 else {
            throw InferenceError.invalidModel("\(label) needs nodes_modes as a uint8 tensor")
        }
        let modeCodes = modeTensor.elements(as: UInt8.self).map(Int.init)
        guard let splitTensor = try a.tensor("nodes_splits"), let leafTensor = try a.tensor("leaf_weights") else {
            throw InferenceError.invalidModel("\(label) needs nodes_splits and leaf_weights")
        }
        let splits = try splitTensor.doubleValues(label: "\(label) nodes_splits")
        let leafWeights = try leafTensor.doubleValues(label: "\(label) leaf_weights")
        let membership = try a.tensor("membership_values").map { try $0.doubleValues(label: "\(label) membership_values") }
        let missing = try a.ints("nodes_missing_value_tracks_true") ?? []
        _ = try a.tensor("nodes_hitrates")
        guard let targets = try a.int("n_targets"), targets > 0 else { throw InferenceError.invalidModel("\(label) needs n_targets ≥ 1") }

        let count = features.count
        guard [trueIDs.count, falseIDs.count, trueLeafs.count, falseLeafs.count, modeCodes.count, splits.count]
            .allSatisfy({ $0 == count }), missing.isEmpty || missing.count == count
        else { throw InferenceError.invalidModel("\(label): the nodes_* attributes differ in length") }
        guard leafWeights.count == leafTargets.count else {
            throw InferenceError.invalidModel("\(label): leaf_targetids and leaf_weights differ in length")
        }

        self.init()
        targetCount = targets
        var memberValues = (membership ?? [])[...]
        for i in 0..<count {
            guard let mode = TreeNodeMode(code: modeCodes[i]) else {
                throw InferenceError.invalidModel("\(label): node \(i) has mode \(modeCodes[i])")
            }
            func child(_ id: Int, isLeaf: Int) throws -> Int {
                let valid = isLeaf != 0 ? leafTargets.indices.contains(id) : (0..<count).contains(id)
                guard valid else { throw InferenceError.invalidModel("\(label): node \(i) has a child that does not exist") }
                return isLeaf != 0 ? count + id : id
            }
            var node = Node(
                mode: mode, feature: features[i], value: splits[i],
                trueChild: try child(trueIDs[i], isLeaf: trueLeafs[i]), falseChild: try child(falseIDs[i], isLeaf: falseLeafs[i]),
                missingTracksTrue: !missing.isEmpty && missing[i] != 0)
            if mode == .member {
                guard membership != nil else {
                    throw InferenceError.invalidModel("\(label): node \(i) is MEMBER but membership_values is missing")
                }
                while let value = memberValues.popFirst(), !value.isNaN { node.members.append(value) }
            }
            nodes.append(node)
        }
        for i in leafTargets.indices {
            nodes.append(Node(
                mode: .leaf, feature: 0, value: 0, trueChild: -1, falseChild: -1, missingTracksTrue: false,
                weights: [(leafTargets[i], leafWeights[i])]))
        }
        for (tree, root) in treeRoots.enumerated() {
            guard (0..<count).contains(root) else {
                throw InferenceError.invalidModel("\(label): tree \(tree) has root \(root), outside the \(count) nodes")
            }
            // A tree that is a single leaf: both children the same leaf.
            if trueLeafs[root] != 0 && falseLeafs[root] != 0 && trueIDs[root] == falseIDs[root] {
                roots.append(count + trueIDs[root])
            } else {
                roots.append(root)
            }
        }
        try validate(label: label)
    }
}
