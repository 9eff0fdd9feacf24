import Foundation

/// A loaded, checked and planned ONNX model: its signature, weights and kernels.
///
/// Immutable and `Sendable`: one instance per model version is shared read-only by every worker thread, each running
/// it through its own `Session`.
public final class Model: Sendable {
    /// Graph inputs the caller provides (initializers excluded), in graph order.
    public let inputs: [TensorSpec]
    /// Graph outputs, in graph order.
    public let outputs: [TensorSpec]
    /// 0..<outputs.count as an array, made once: what a caller asking for every output selects.
    public let outputPositions: [Int]
    /// The default-domain opset the model imports.
    public let opsetVersion: Int
    /// The model's `metadata_props`.
    public let metadata: [String: String]
    /// Operators in the graph, after fusion (for reports).
    public let operatorCounts: [String: Int]
    /// Bytes of weights (initializers and constants) held by this model.
    public let weightBytes: Int

    let nodes: [PlannedNode]
    let valueCount: Int
    let constants: [(Int, Tensor)]
    let inputIndexes: [Int]
    let outputIndexes: [Int]
    /// For a subgraph (the body of an If, Loop or Scan node), the values it reads from the graphs enclosing it, which
    /// the node binds before each run (`Session.setCapture`); empty for a model.
    let captureIndexes: [Int]
    /// For a subgraph, the input and output positions whose type the graph leaves undeclared: such an input is bound
    /// unchecked, and such an output's `outputs` entry is a placeholder (see `Subgraph.outputType(_:)`).
    let untypedInputs: Set<Int>
    let untypedOutputs: Set<Int>
    /// Input and output positions declared as sequences or optionals (a subgraph's, or a test model's): their
    /// `inputs` / `outputs` entries are placeholders, and only `Session.setInput(_:value:)` binds such an input.
    let nonTensorInputs: Set<Int>
    let nonTensorOutputs: Set<Int>
    /// The values no later node reads (nor the caller: graph outputs are excluded), which the session drops after
    /// a node runs so their storage can hold later values: node `p`'s are
    /// `releasedValues[releaseStarts[p]..<releaseStarts[p + 1]]` (flat, so a run reads them without retaining arrays).
    let releasedValues: [Int]
    let releaseStarts: [Int]
    /// Every value that is not a constant: what a session clears after each run.
    let transientValues: [Int]

    init(
        inputs: [TensorSpec], outputs: [TensorSpec], opsetVersion: Int, metadata: [String: String],
        nodes: [PlannedNode], valueCount: Int, constants: [(Int, Tensor)], inputIndexes: [Int], outputIndexes: [Int],
        captureIndexes: [Int] = [], untypedInputs: Set<Int> = [], untypedOutputs: Set<Int> = [],
        nonTensorInputs: Set<Int> = [], nonTensorOutputs: Set<Int> = []
    ) {
        self.inputs = inputs
        self.outputs = outputs
        self.outputPositions = Array(outputs.indices)
        self.opsetVersion = opsetVersion
        self.metadata = metadata
        self.nodes = nodes
        self.valueCount = valueCount
        self.constants = constants
        self.inputIndexes = inputIndexes
        self.outputIndexes = outputIndexes
        self.captureIndexes = captureIndexes
        self.untypedInputs = untypedInputs
        self.untypedOutputs = untypedOutputs
        self.nonTensorInputs = nonTensorInputs
        self.nonTensorOutputs = nonTensorOutputs
        self.operatorCounts = nodes.reduce(into: [:]) { $0[$1.opType, default: 0] += 1 }
        let constantIndexes = Set(constants.map(\.0))
        let releases = Self.releases(nodes: nodes, kept: constantIndexes.union(outputIndexes))
        self.releasedValues = releases.flatMap { $0 }
        self.releaseStarts = releases.reduce(into: [0]) { $0.append($0.last! + $1.count) }
        self.transientValues = (0..<valueCount).filter { !constantIndexes.contains($0) }
        self.weightBytes = constants.reduce(0) { $0 + $1.1.byteCount }
            + nodes.reduce(0) { $0 + (($1.kernel as? HoldsWeights)?.heldWeightBytes ?? 0) }
    }

    /// Parses, checks and plans the ONNX model in `bytes`.
    ///
    /// - Throws: `InferenceError.invalidModel` for malformed files, `.unsupported` naming every operator or attribute
    ///   this runtime does not implement.
    public convenience init(onnx bytes: Data, registry: OperatorRegistry = .standard) throws {
        var loader = try ModelLoader(bytes: bytes, registry: registry)
        try self.init(plan: loader.plan())
    }

    /// Loads the ONNX model file at `url`.
    public convenience init(contentsOf url: URL, registry: OperatorRegistry = .standard) throws {
        var loader = try ModelLoader(file: try ONNXFile(url: url), registry: registry)
        try self.init(plan: loader.plan())
    }

    /// A planned graph: the model itself, or a subgraph of one of its nodes.
    convenience init(plan: ModelLoader.Plan) {
        self.init(
            inputs: plan.inputs, outputs: plan.outputs, opsetVersion: plan.opsetVersion, metadata: plan.metadata,
            nodes: plan.nodes, valueCount: plan.valueCount, constants: plan.constants,
            inputIndexes: plan.inputIndexes, outputIndexes: plan.outputIndexes, captureIndexes: plan.captureIndexes,
            untypedInputs: plan.untypedInputs, untypedOutputs: plan.untypedOutputs,
            nonTensorInputs: plan.nonTensorInputs, nonTensorOutputs: plan.nonTensorOutputs)
    }

    /// Loads a model whose own inputs and outputs may be sequences or optionals, which `init(onnx:)` refuses (the
    /// serving API carries tensors): for ONNX's sequence node tests, run through `Session.setInput(_:value:)` and
    /// `Session.runValues()`.
    convenience init(contentsOf url: URL, allowingNonTensorGraphValues: Bool) throws {
        var loader = try ModelLoader(file: try ONNXFile(url: url), registry: .standard)
        loader.allowsNonTensorGraphValues = allowingNonTensorGraphValues
        try self.init(plan: loader.plan())
    }

    /// For each node, the values it is the last reader of (or, for values nobody reads, their producer), minus
    /// `kept`.
    private static func releases(nodes: [PlannedNode], kept: Set<Int>) -> [[Int]] {
        var lastUse: [Int: Int] = [:]
        for (position, node) in nodes.enumerated() {
            for value in node.outputs where value >= 0 { lastUse[value] = position }
            for value in node.inputs where value >= 0 { lastUse[value] = position }
        }
        var releases = [[Int]](repeating: [], count: nodes.count)
        for (value, position) in lastUse where !kept.contains(value) { releases[position].append(value) }
        return releases
    }

    /// A new session for running this model on the calling thread, whose buffers may take up to `memoryLimit` bytes.
    public func makeSession(memoryLimit: Int = 4 << 30) -> Session {
        Session(model: self, memoryLimit: memoryLimit)
    }
}

/// One node of the execution plan.
///
/// A class, so a run walking the plan takes one reference per node instead of copying five.
final class PlannedNode: Sendable {
    let opType: String
    let label: String
    let kernel: Kernel
    /// Value indexes of the inputs; -1 for an absent optional input.
    let inputs: [Int]
    let outputs: [Int]

    init(opType: String, label: String, kernel: Kernel, inputs: [Int], outputs: [Int]) {
        self.opType = opType
        self.label = label
        self.kernel = kernel
        self.inputs = inputs
        self.outputs = outputs
    }
}
