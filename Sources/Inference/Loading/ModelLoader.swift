import Foundation
import ONNXSchema
import SwiftProtobuf

/// Turns ONNX bytes into an execution plan: values numbered, constants folded in, every node given a kernel
/// (`GraphPlanner` plans the graph, and the subgraphs of its control-flow nodes).
///
/// Every problem is collected before failing, so a model using three unsupported operators names all three.
struct ModelLoader {
    struct Plan {
        var inputs: [TensorSpec] = []
        var outputs: [TensorSpec] = []
        var opsetVersion = 0
        var metadata: [String: String] = [:]
        var nodes: [PlannedNode] = []
        var valueCount = 0
        var constants: [(Int, Tensor)] = []
        var inputIndexes: [Int] = []
        var outputIndexes: [Int] = []
        /// A subgraph's values read from the enclosing graph (`Model.captureIndexes`).
        var captureIndexes: [Int] = []
        /// A subgraph's input and output positions that declare no type (`Model.untypedInputs`).
        var untypedInputs: Set<Int> = []
        var untypedOutputs: Set<Int> = []
        /// Input and output positions declared as sequences or optionals (`Model.nonTensorInputs`).
        var nonTensorInputs: Set<Int> = []
        var nonTensorOutputs: Set<Int> = []
    }

    /// The oldest and newest default-domain opsets the loader accepts; before 7 nodes go through `LegacyOpsets`.
    static let supportedOpsets = 1...27
    /// The `ai.onnx.ml` opsets whose semantics the kernels follow (TreeEnsemble needs 5, the rest 1 or more).
    static let supportedMLOpsets = 1...5

    private var model: Onnx_ModelProto
    /// Where the initializers' raw_data are, when the model was read from a file through `ONNXFile`.
    private let file: ONNXFile?
    let registry: OperatorRegistry

    /// Whether the model's own inputs and outputs may be sequences or optionals: false for served models (the
    /// serving API carries tensors); the conformance runner sets it to feed ONNX's sequence tests.
    var allowsNonTensorGraphValues = false

    init(bytes: Data, registry: OperatorRegistry) throws {
        model = try Self.decode(bytes)
        file = nil
        self.registry = registry
    }

    /// Reads a model file, copying each weight once (from the file into its tensor).
    init(file: ONNXFile, registry: OperatorRegistry) throws {
        model = try Self.decode(file.strippedModel)
        guard model.graph.initializer.count == file.rawDataRanges.count else {
            throw InferenceError.invalidModel("the graph's initializers could not be located in the file")
        }
        self.file = file
        self.registry = registry
    }

    private static func decode(_ bytes: Data) throws -> Onnx_ModelProto {
        do {
            var options = BinaryDecodingOptions()
            options.messageDepthLimit = 64
            return try Onnx_ModelProto(serializedBytes: bytes, options: options)
        } catch {
            throw InferenceError.invalidModel("not an ONNX protobuf (\(error))")
        }
    }

    /// Plans the model. Consumes the parsed protobuf: each initializer's bytes are released once copied into a
    /// tensor, so loading peaks near one copy of the weights rather than two.
    mutating func plan() throws -> Plan {
        guard model.hasGraph else { throw InferenceError.invalidModel("the model has no graph") }
        var initializers = model.graph.initializer
        model.graph.initializer = []
        let graph = model.graph
        let planner = GraphPlanner(
            registry: registry, defaultOpset: try defaultOpset(), mlOpset: try mlOpset(),
            allowsNonTensorGraphValues: allowsNonTensorGraphValues)
        let scope = GraphScope(parent: nil)
        for position in initializers.indices {
            let index = try scope.define(initializers[position].name)
            let location = file.flatMap { file in file.rawDataRanges[position].map { (file, $0) } }
            scope.constants[index] = try Tensor(onnx: initializers[position], rawDataIn: location)
            initializers[position] = Onnx_TensorProto()
        }
        var plan = try planner.plan(graph, in: scope)
        plan.opsetVersion = planner.defaultOpset ?? 0
        plan.metadata = Dictionary(model.metadataProps.map { ($0.key, $0.value) }, uniquingKeysWith: { _, last in last })
        return plan
    }

    /// The default-domain opset, or nil when the model imports none (allowed while no node is in that domain).
    private func defaultOpset() throws -> Int? {
        let imports = model.opsetImport.filter { $0.domain.isEmpty || $0.domain == "ai.onnx" }
        guard let version = imports.map({ Int($0.version) }).max() else {
            guard model.opsetImport.contains(where: { $0.domain == OperatorRegistry.mlDomain }) else {
                // IR version 1-2 models predate opset_import and mean opset 1, which this runtime does not follow.
                throw InferenceError.unsupported(["models without a default-domain opset import"])
            }
            return nil
        }
        guard Self.supportedOpsets.contains(version) else {
            throw InferenceError.unsupported(["opset \(version) (supported: \(Self.supportedOpsets))"])
        }
        return version
    }

    /// The `ai.onnx.ml` opset, or nil when the model does not import that domain.
    private func mlOpset() throws -> Int? {
        let imports = model.opsetImport.filter { $0.domain == OperatorRegistry.mlDomain }
        guard let version = imports.map({ Int($0.version) }).max() else { return nil }
        guard Self.supportedMLOpsets.contains(version) else {
            throw InferenceError.unsupported(["ai.onnx.ml opset \(version) (supported: \(Self.supportedMLOpsets))"])
        }
        return version
    }
}
