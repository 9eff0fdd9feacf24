import Foundation
@testable import Inference
import Testing
import ZServeTesting

/// Tree ensembles (ai.onnx.ml): routing at the thresholds and for NaN in each comparison mode and the load-time
/// refusals a user needs to read; the same answers on one and two threads is in `ParallelismTests` (it changes the
/// process-wide thread count, which only that serialized suite may do).
/// Whole exported models (LightGBM, XGBoost, scikit-learn) are compared with onnxruntime in `ReferenceModelTests`.
@Suite struct TreeEnsembleTests {
    /// A TreeEnsembleRegressor (ai.onnx.ml opset 3) over one feature: node 0 compares with `value` by `mode`,
    /// true → leaf weight 1, false → leaf weight 2.
    static func stump(mode: String, value: Float, missingTracksTrue: Bool = false) throws -> Model {
        var graph = ONNXGraphBuilder(opset: 17)
        graph.importDomain("ai.onnx.ml", version: 3)
        graph.input("x", .float32, [nil, 1])
        graph.node("TreeEnsembleRegressor", ["x"], ["y"], domain: "ai.onnx.ml", [
            "n_targets": 1,
            "nodes_treeids": [0, 0, 0], "nodes_nodeids": [0, 1, 2], "nodes_featureids": [0, 0, 0],
            "nodes_modes": [mode, "LEAF", "LEAF"], "nodes_values": [value, 0, 0] as [Float],
            "nodes_truenodeids": [1, 0, 0], "nodes_falsenodeids": [2, 0, 0],
            "nodes_missing_value_tracks_true": [missingTracksTrue ? 1 : 0, 0, 0],
            "target_treeids": [0, 0], "target_nodeids": [1, 2], "target_ids": [0, 0], "target_weights": [1, 2] as [Float],
        ])
        graph.output("y", .float32, [nil, 1])
        return try Model(onnx: graph.serialized())
    }

    static func run(_ model: Model, _ x: [Float]) throws -> [Float] {
        let session = model.makeSession()
        try session.setInput(0, Tensor(float32: x, shape: [x.count, 1]))
        return try session.run()[0].array(of: Float.self)
    }

    @Test(arguments: [
        ("BRANCH_LEQ", [Float(1), 1, 2]), ("BRANCH_LT", [1, 2, 2]), ("BRANCH_GTE", [2, 1, 1]),
        ("BRANCH_GT", [2, 2, 1]), ("BRANCH_EQ", [2, 1, 2]), ("BRANCH_NEQ", [1, 2, 1]),
    ])
    func comparisonsAtAndAroundTheThreshold(mode: String, expected: [Float]) throws {
        let value: Float = 0.3  // not a binary fraction: the rewrite of < and > must keep exactly this boundary
        let model = try Self.stump(mode: mode, value: value)
        #expect(try Self.run(model, [value.nextDown, value, value.nextUp]) == expected)
    }

    @Test(arguments: ["BRANCH_LEQ", "BRANCH_LT", "BRANCH_GTE", "BRANCH_GT", "BRANCH_EQ"])
    func nanFollowsTheMissingValueTrack(mode: String) throws {
        #expect(try Self.run(Self.stump(mode: mode, value: 0.5), [.nan]) == [2])
        #expect(try Self.run(Self.stump(mode: mode, value: 0.5, missingTracksTrue: true), [.nan]) == [1])
    }

    @Test func infiniteFeaturesAndThresholds() throws {
        #expect(try Self.run(Self.stump(mode: "BRANCH_LT", value: -.infinity), [-.infinity, 0]) == [2, 2])
        #expect(try Self.run(Self.stump(mode: "BRANCH_GTE", value: -.infinity), [-.infinity, 0]) == [1, 1])
        #expect(try Self.run(Self.stump(mode: "BRANCH_LEQ", value: .infinity), [.infinity, 0]) == [1, 1])
        #expect(try Self.run(Self.stump(mode: "BRANCH_GT", value: .infinity), [.infinity]) == [2])
    }

    @Test func zipMapIsRefusedNamingTheExporterOption() throws {
        var graph = ONNXGraphBuilder(opset: 17)
        graph.importDomain("ai.onnx.ml", version: 1)
        graph.input("p", .float32, [nil, 2])
        graph.node("ZipMap", ["p"], ["m"], domain: "ai.onnx.ml", ["classlabels_int64s": [0, 1]])
        graph.output("p", .float32, [nil, 2])
        #expect {
            try Model(onnx: graph.serialized())
        } throws: { error in
            guard case InferenceError.unsupported(let items) = error else { return false }
            return items.count == 1 && items[0].contains("ZipMap") && items[0].contains("'zipmap': False")
                && items[0].contains("zipmap=False")
        }
    }

    @Test func stringClassLabelsAreAnsweredAsStrings() throws {
        // One stump: x ≤ 0 scores class 1 ("yes"), otherwise class 0 ("no").
        var graph = ONNXGraphBuilder(opset: 17)
        graph.importDomain("ai.onnx.ml", version: 3)
        graph.input("x", .float32, [nil, 1])
        graph.node("TreeEnsembleClassifier", ["x"], ["label", "scores"], domain: "ai.onnx.ml", [
            "classlabels_strings": ["no", "yes", "maybe"],
            "nodes_treeids": [0, 0, 0], "nodes_nodeids": [0, 1, 2], "nodes_featureids": [0, 0, 0],
            "nodes_modes": ["BRANCH_LEQ", "LEAF", "LEAF"], "nodes_values": [0, 0, 0] as [Float],
            "nodes_truenodeids": [1, 0, 0], "nodes_falsenodeids": [2, 0, 0],
            "class_treeids": [0, 0], "class_nodeids": [1, 2], "class_ids": [1, 0], "class_weights": [1, 1] as [Float],
        ])
        graph.output("label", .string, [nil])
        graph.output("scores", .float32, [nil, 3])
        let session = try Model(onnx: graph.serialized()).makeSession()
        try session.setInput(0, Tensor(float32: [-1, 2, 0], shape: [3, 1]))
        let outputs = try session.run()
        #expect(outputs[0].elementType == .string)
        #expect(outputs[0].array(of: String.self) == ["yes", "no", "yes"])
        #expect(outputs[1].array(of: Float.self) == [0, 1, 0, 1, 0, 0, 0, 1, 0])
    }

    @Test func aCycleIsAnInvalidModel() throws {
        var graph = ONNXGraphBuilder(opset: 17)
        graph.importDomain("ai.onnx.ml", version: 3)
        graph.input("x", .float32, [nil, 1])
        graph.node("TreeEnsembleRegressor", ["x"], ["y"], domain: "ai.onnx.ml", [
            "n_targets": 1,
            "nodes_treeids": [0, 0, 0], "nodes_nodeids": [0, 1, 2], "nodes_featureids": [0, 0, 0],
            "nodes_modes": ["BRANCH_LEQ", "BRANCH_LEQ", "LEAF"], "nodes_values": [0, 0, 0] as [Float],
            "nodes_truenodeids": [1, 0, 0], "nodes_falsenodeids": [2, 2, 0],
            "target_treeids": [0], "target_nodeids": [2], "target_ids": [0], "target_weights": [1] as [Float],
        ])
        graph.output("y", .float32, [nil, 1])
        #expect {
            try Model(onnx: graph.serialized())
        } throws: { error in
            guard case InferenceError.invalidModel(let message) = error else { return false }
            return message.contains("cycle")
        }
    }

    @Test func tooFewFeaturesIsAnInvalidInput() throws {
        var graph = ONNXGraphBuilder(opset: 17)
        graph.importDomain("ai.onnx.ml", version: 3)
        graph.input("x", .float32, [nil, nil])
        graph.node("TreeEnsembleRegressor", ["x"], ["y"], domain: "ai.onnx.ml", [
            "n_targets": 1,
            "nodes_treeids": [0, 0, 0], "nodes_nodeids": [0, 1, 2], "nodes_featureids": [3, 0, 0],
            "nodes_modes": ["BRANCH_LEQ", "LEAF", "LEAF"], "nodes_values": [0, 0, 0] as [Float],
            "nodes_truenodeids": [1, 0, 0], "nodes_falsenodeids": [2, 0, 0],
            "target_treeids": [0, 0], "target_nodeids": [1, 2], "target_ids": [0, 0], "target_weights": [1, 2] as [Float],
        ])
        graph.output("y", .float32, [nil, 1])
        let session = try Model(onnx: graph.serialized()).makeSession()
        try session.setInput(0, Tensor(float32: [1, 2, 3], shape: [1, 3]))
        #expect(throws: InferenceError.self) { try session.run() }
        try session.setInput(0, Tensor(float32: [1, 2, 3, -1], shape: [1, 4]))
        #expect(try session.run()[0].array(of: Float.self) == [1])
    }

    @Test func anUnknownMLOperatorIsNamedWithItsDomain() throws {
        var graph = ONNXGraphBuilder(opset: 17)
        graph.importDomain("ai.onnx.ml", version: 3)
        graph.input("x", .float32, [nil, 1])
        graph.node("DictVectorizer", ["x"], ["y"], domain: "ai.onnx.ml")
        graph.output("y", .float32, [nil, 1])
        #expect(throws: InferenceError.unsupported(["DictVectorizer (domain ai.onnx.ml)"])) {
            try Model(onnx: graph.serialized())
        }
    }

    @Test func treeEnsembleNeedsMLOpsetFive() throws {
        var graph = ONNXGraphBuilder(opset: 17)
        graph.importDomain("ai.onnx.ml", version: 3)
        graph.input("x", .float32, [nil, 1])
        graph.node("TreeEnsemble", ["x"], ["y"], domain: "ai.onnx.ml", ["n_targets": 1])
        graph.output("y", .float32, [nil, 1])
        #expect {
            try Model(onnx: graph.serialized())
        } throws: { error in
            guard case InferenceError.invalidModel(let message) = error else { return false }
            return message.contains("opset 5")
        }
    }

    @Test func mlNodesNeedTheDomainImported() throws {
        var graph = ONNXGraphBuilder(opset: 17)
        graph.input("x", .float32, [nil, 1])
        graph.node("Binarizer", ["x"], ["y"], domain: "ai.onnx.ml")
        graph.output("y", .float32, [nil, 1])
        #expect(throws: InferenceError.self) { try Model(onnx: graph.serialized()) }
    }
}

extension ParallelismTests {
    /// 400 random trees of depth ≤ 8 over 16 features: one row (trees split across threads) and 300 rows (rows
    /// split) give the same scores on one and two threads as the one-row-at-a-time answers.
    @Test func oneAndTwoThreadsAgreeForRowAndTreeSplits() throws {
        var state: UInt64 = 7
        func next(_ bound: Int) -> Int {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int(state >> 33) % bound
        }
        var a: [String: [Int]] = [:]
        var modes: [String] = [], values: [Float] = [], weights: [Float] = []
        for tree in 0..<400 {
            var count = 0
            func grow(_ depth: Int) -> Int {
                let id = count
                count += 1
                let slot = a["nodes_nodeids", default: []].count
                for key in ["nodes_treeids", "nodes_nodeids", "nodes_featureids", "nodes_truenodeids", "nodes_falsenodeids"] {
                    a[key, default: []].append(0)
                }
                modes.append("LEAF")
                values.append(0)
                a["nodes_treeids"]![slot] = tree
                a["nodes_nodeids"]![slot] = id
                if depth == 8 || (depth > 1 && next(5) == 0) {
                    a["target_treeids", default: []].append(tree)
                    a["target_nodeids", default: []].append(id)
                    a["target_ids", default: []].append(next(2))
                    weights.append(Float(next(1000)) / 100 - 5)
                    return id
                }
                modes[slot] = "BRANCH_LEQ"
                values[slot] = Float(next(200)) / 100 - 1
                a["nodes_featureids"]![slot] = next(16)
                a["nodes_truenodeids"]![slot] = grow(depth + 1)
                a["nodes_falsenodeids"]![slot] = grow(depth + 1)
                return id
            }
            _ = grow(0)
        }
        var graph = ONNXGraphBuilder(opset: 17)
        graph.importDomain("ai.onnx.ml", version: 3)
        graph.input("x", .float32, [nil, 16])
        var attributes: [String: Any] = a.mapValues { $0 as Any }
        attributes["nodes_modes"] = modes
        attributes["nodes_values"] = values
        attributes["target_weights"] = weights
        attributes["n_targets"] = 2
        graph.node("TreeEnsembleRegressor", ["x"], ["y"], domain: "ai.onnx.ml", attributes)
        graph.output("y", .float32, [nil, 2])
        let model = try Model(onnx: graph.serialized())
        let rows = 300
        let x = (0..<rows * 16).map { _ in Float(next(220)) / 100 - 1.1 }
        func scores(_ rows: Range<Int>, threads: Int) throws -> [Float] {
            Parallelism.setThreadCount(threads)
            defer { Parallelism.setThreadCount(1) }
            let session = model.makeSession()
            try session.setInput(0, Tensor(float32: Array(x[(rows.lowerBound * 16)..<(rows.upperBound * 16)]), shape: [rows.count, 16]))
            return try session.run()[0].array(of: Float.self)
        }
        var singleRows: [Float] = []
        for row in 0..<rows { singleRows += try scores(row..<(row + 1), threads: 1) }
        for threads in [1, 2] {
            let batch = try scores(0..<rows, threads: threads)
            let one = try scores(5..<6, threads: threads)
            for (a, b) in zip(batch + one, singleRows + Array(singleRows[10..<12])) {
                #expect(abs(a - b) <= 1e-4 * max(1, abs(b)), "threads \(threads): \(a) vs \(b)")
            }
        }
    }
}
