import Foundation
import ONNXSchema
import SwiftProtobuf

/// Turns ONNX bytes into an execution plan: values numbered, constants folded in, every node given a kernel.
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
    }

    /// The oldest and newest default-domain opsets the loader accepts; before 7 nodes go through `LegacyOpsets`.
    static let supportedOpsets = 1...27
    /// The `ai.onnx.ml` opsets whose semantics the kernels follow (TreeEnsemble needs 5, the rest 1 or more).
    static let supportedMLOpsets = 1...5

    private var model: Onnx_ModelProto
    /// Where the initializers' raw_data are, when the model was read from a file through `ONNXFile`.
    private let file: ONNXFile?
    let registry: OperatorRegistry

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
        var plan = Plan()
        let defaultOpset = try defaultOpset()
        plan.opsetVersion = defaultOpset ?? 0
        let mlOpset = try mlOpset()
        plan.metadata = Dictionary(model.metadataProps.map { ($0.key, $0.value) }, uniquingKeysWith: { _, last in last })

        if !graph.sparseInitializer.isEmpty {
            throw InferenceError.unsupported(["sparse initializers"])
        }

        var valueIndex: [String: Int] = [:]
        func define(_ name: String) throws -> Int {
            guard valueIndex[name] == nil else {
                throw InferenceError.invalidModel("value '\(name)' is defined more than once")
            }
            let index = valueIndex.count
            valueIndex[name] = index
            return index
        }

        var constantValues: [Int: Tensor] = [:]
        for position in initializers.indices {
            let index = try define(initializers[position].name)
            let location = file.flatMap { file in file.rawDataRanges[position].map { (file, $0) } }
            constantValues[index] = try Tensor(onnx: initializers[position], rawDataIn: location)
            initializers[position] = Onnx_TensorProto()
        }
        for input in graph.input where valueIndex[input.name] == nil {
            plan.inputs.append(try spec(of: input))
            plan.inputIndexes.append(try define(input.name))
        }
        var float16Flow = Float16Flow()
        for (index, tensor) in constantValues { float16Flow.set(index, tensor.elementType) }
        for (spec, index) in zip(plan.inputs, plan.inputIndexes) { float16Flow.set(index, spec.elementType) }

        var problems: [String] = []
        var nodes: [PlannedNode] = []
        for (position, node) in graph.node.enumerated() {
            let label = node.name.isEmpty ? "\(node.opType) #\(position)" : "\(node.opType) '\(node.name)'"
            let isML = node.domain == OperatorRegistry.mlDomain
            if !node.domain.isEmpty && node.domain != "ai.onnx" && !isML {
                problems.append("\(node.opType) (domain \(node.domain))")
                continue
            }
            let nodeOpset: Int
            if isML {
                guard let mlOpset else {
                    throw InferenceError.invalidModel("\(label) is in domain ai.onnx.ml, which the model does not import")
                }
                nodeOpset = mlOpset
            } else {
                guard let defaultOpset else {
                    // IR version 1-2 models predate opset_import and mean opset 1, which this runtime does not follow.
                    throw InferenceError.unsupported(["models without a default-domain opset import"])
                }
                nodeOpset = defaultOpset
            }
            var inputs: [Int] = []
            for name in node.input {
                if name.isEmpty { inputs.append(-1); continue }
                guard let index = valueIndex[name] else {
                    throw InferenceError.invalidModel("\(label) reads '\(name)', which is not defined before it")
                }
                inputs.append(index)
            }
            guard !node.output.isEmpty else { throw InferenceError.invalidModel("\(label) has no outputs") }
            let outputs = try node.output.enumerated().map { slot, name in
                // An empty name means the output is not used; it still needs a slot of its own.
                try define(name.isEmpty ? "\u{0}unused.\(position).\(slot)" : name)
            }

            guard let factory = registry.factory(for: node.opType, domain: isML ? OperatorRegistry.mlDomain : "") else {
                problems.append(isML ? "\(node.opType) (domain ai.onnx.ml)" : node.opType)
                continue
            }
            let attributes = try NodeAttributes(node.attribute, nodeLabel: label)
            let kernelOpset: Int
            do {
                kernelOpset = isML
                    ? nodeOpset
                    : try LegacyOpsets.kernelOpset(node.opType, modelOpset: nodeOpset, attributes: attributes, label: label)
            } catch InferenceError.unsupported(let items) {
                problems.append(contentsOf: items)
                continue
            }
            let definition = NodeDefinition(
                opType: node.opType, opsetVersion: kernelOpset, domain: isML ? OperatorRegistry.mlDomain : "",
                attributes: attributes, inputCount: node.input.count, label: label)
            do {
                let kernel = try factory(definition)
                let unread = attributes.unread
                if !unread.isEmpty {
                    problems.append(contentsOf: unread.map { "\(node.opType) attribute '\($0)'" })
                    continue
                }
                if let constant = kernel as? ConstantKernel {
                    constantValues[outputs[0]] = constant.value
                    float16Flow.set(outputs[0], constant.value.elementType)
                    continue
                }
                if !isML, let problem = float16Flow.visit(
                    opType: node.opType, label: label, inputs: inputs, inputNames: node.input, outputs: outputs,
                    attributes: attributes) {
                    problems.append(problem)
                    continue
                }
                nodes.append(PlannedNode(opType: node.opType, label: label, kernel: kernel, inputs: inputs, outputs: outputs))
            } catch InferenceError.unsupported(let items) {
                problems.append(contentsOf: items)
            }
        }
        if !problems.isEmpty {
            var seen = Set<String>()
            throw InferenceError.unsupported(problems.filter { seen.insert($0).inserted })
        }

        for output in graph.output {
            guard let index = valueIndex[output.name] else {
                throw InferenceError.invalidModel("graph output '\(output.name)' is never computed")
            }
            plan.outputs.append(try spec(of: output))
            plan.outputIndexes.append(index)
        }
        guard !plan.outputs.isEmpty else { throw InferenceError.invalidModel("the graph has no outputs") }

        plan.nodes = GraphFusion.prepareWeights(
            GraphFusion.fuse(nodes, graphOutputs: Set(plan.outputIndexes), constants: constantValues),
            constants: constantValues)
        plan.valueCount = valueIndex.count
        // Constants folded into kernels (a fused bias, weights stored transposed) need no value of their own.
        let read = Set(plan.nodes.flatMap(\.inputs)).union(plan.outputIndexes)
        plan.constants = constantValues.filter { read.contains($0.key) }.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
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

    private func spec(of value: Onnx_ValueInfoProto) throws -> TensorSpec {
        guard case .tensorType(let type)? = value.type.value else {
            throw InferenceError.unsupported(["graph value '\(value.name)' that is not a tensor"])
        }
        guard let elementType = ElementType(rawValue: type.elemType) else {
            throw InferenceError.unsupported(["graph value '\(value.name)' of ONNX data type \(type.elemType)"])
        }
        let shape: [Int?]? = type.hasShape
            ? type.shape.dim.map { dim in
                if case .dimValue(let size)? = dim.value, size >= 0 { return Int(size) }
                return nil
            }
            : nil
        return TensorSpec(name: value.name, elementType: elementType, shape: shape)
    }
}
