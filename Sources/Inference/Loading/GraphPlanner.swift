import ONNXSchema

/// Plans one ONNX graph — the model's, or a subgraph of a control-flow node — into a `ModelLoader.Plan`: values
/// numbered, constants folded in, every node given a kernel, float16 flow checked.
///
/// A node with graph attributes (If, Loop, Scan) plans them through the `SubgraphPlanner` its kernel factory
/// receives, in a child `GraphScope`, so a subgraph is planned once at load like the graph around it, and the outer
/// values it reads become extra inputs of the node (keeping them alive until it runs). Every problem of the graph
/// and its subgraphs is collected before failing.
struct GraphPlanner {
    let registry: OperatorRegistry
    /// The default-domain opset the model imports, or nil when it imports none.
    let defaultOpset: Int?
    /// The `ai.onnx.ml` opset, or nil.
    let mlOpset: Int?
    /// Whether the main graph's inputs and outputs may be sequences or optionals (subgraphs' always may).
    var allowsNonTensorGraphValues = false

    /// Plans `graph` in `scope` (which already holds the main graph's initializers; a subgraph's are read here).
    func plan(_ graph: Onnx_GraphProto, in scope: GraphScope) throws -> ModelLoader.Plan {
        if !graph.sparseInitializer.isEmpty {
            throw InferenceError.unsupported(["sparse initializers"])
        }
        let isSubgraph = scope.parent != nil
        var plan = ModelLoader.Plan()
        for initializer in graph.initializer {
            scope.constants[try scope.define(initializer.name)] = try Tensor(onnx: initializer)
        }
        let allowsNonTensor = isSubgraph || allowsNonTensorGraphValues
        for input in graph.input where !scope.definesLocally(input.name) {
            if let kind = Self.nonTensorKind(input) {
                guard allowsNonTensor else { throw Self.nonTensorRefusal("input", input.name, kind) }
                plan.nonTensorInputs.insert(plan.inputs.count)
                plan.inputs.append(Self.untypedSpec(input.name))
            } else if isSubgraph && Self.isUntyped(input) {
                plan.untypedInputs.insert(plan.inputs.count)
                plan.inputs.append(Self.untypedSpec(input.name))
            } else {
                let spec = try Self.spec(of: input)
                // A subgraph's inputs are checked by type only: a loop-carried value may change shape between
                // iterations.
                plan.inputs.append(isSubgraph ? TensorSpec(name: spec.name, elementType: spec.elementType, shape: nil) : spec)
            }
            plan.inputIndexes.append(try scope.define(input.name))
        }
        for (index, tensor) in scope.constants { scope.typeFlow.set(index, tensor.elementType) }
        for (position, (spec, index)) in zip(plan.inputs, plan.inputIndexes).enumerated()
        where !plan.untypedInputs.contains(position) && !plan.nonTensorInputs.contains(position) {
            scope.typeFlow.set(index, spec.elementType)
        }

        var problems: [String] = []
        var nodes: [PlannedNode] = []
        for (position, node) in graph.node.enumerated() {
            let label = node.name.isEmpty ? "\(node.opType) #\(position)" : "\(node.opType) '\(node.name)'"
            do {
                if let planned = try planNode(node, label: label, position: position, in: scope) {
                    nodes.append(planned)
                }
            } catch InferenceError.unsupported(let items) {
                problems.append(contentsOf: items)
            }
        }
        if !problems.isEmpty {
            var seen = Set<String>()
            throw InferenceError.unsupported(problems.filter { seen.insert($0).inserted })
        }

        for output in graph.output {
            // An output may be a value of an enclosing graph (a branch returning an outer value unchanged).
            guard let index = scope.resolve(output.name) else {
                throw InferenceError.invalidModel("graph output '\(output.name)' is never computed")
            }
            if let kind = Self.nonTensorKind(output) {
                guard allowsNonTensor else { throw Self.nonTensorRefusal("output", output.name, kind) }
                plan.nonTensorOutputs.insert(plan.outputs.count)
                plan.outputs.append(Self.untypedSpec(output.name))
            } else if isSubgraph && Self.isUntyped(output) {
                plan.untypedOutputs.insert(plan.outputs.count)
                plan.outputs.append(Self.untypedSpec(output.name))
            } else {
                plan.outputs.append(try Self.spec(of: output))
            }
            plan.outputIndexes.append(index)
        }
        guard !plan.outputs.isEmpty else { throw InferenceError.invalidModel("the graph has no outputs") }

        plan.nodes = GraphFusion.prepareWeights(
            GraphFusion.fuse(nodes, graphOutputs: Set(plan.outputIndexes), constants: scope.constants),
            constants: scope.constants)
        plan.valueCount = scope.count
        plan.captureIndexes = scope.captures.map(\.inner)
        // Constants folded into kernels (a fused bias, weights stored transposed) need no value of their own.
        let read = Set(plan.nodes.flatMap(\.inputs)).union(plan.outputIndexes)
        plan.constants = scope.constants.filter { read.contains($0.key) }.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
        return plan
    }

    /// Plans one node: its kernel, its inputs (with the outer values its subgraphs read appended) and outputs; nil
    /// when the node folds into a constant. Throws `.unsupported` for what this runtime does not implement.
    private func planNode(_ node: Onnx_NodeProto, label: String, position: Int, in scope: GraphScope) throws -> PlannedNode? {
        let isML = node.domain == OperatorRegistry.mlDomain
        if !node.domain.isEmpty && node.domain != "ai.onnx" && !isML {
            throw InferenceError.unsupported(["\(node.opType) (domain \(node.domain))"])
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
            guard let index = scope.resolve(name) else {
                throw InferenceError.invalidModel("\(label) reads '\(name)', which is not defined before it")
            }
            inputs.append(index)
        }
        guard !node.output.isEmpty else { throw InferenceError.invalidModel("\(label) has no outputs") }
        let outputs = try node.output.enumerated().map { slot, name in
            // An empty name means the output is not used; it still needs a slot of its own.
            try scope.define(name.isEmpty ? "\u{0}unused.\(position).\(slot)" : name)
        }

        guard let factory = registry.factory(for: node.opType, domain: isML ? OperatorRegistry.mlDomain : "") else {
            throw InferenceError.unsupported([isML ? "\(node.opType) (domain ai.onnx.ml)" : node.opType])
        }
        let attributes = try NodeAttributes(node.attribute, nodeLabel: label)
        let kernelOpset = isML
            ? nodeOpset
            : try LegacyOpsets.kernelOpset(node.opType, modelOpset: nodeOpset, attributes: attributes, label: label)
        let subgraphs = attributes.hasGraphs
            ? SubgraphPlanner(planner: self, scope: scope, attributes: attributes, label: label, firstSlot: inputs.count)
            : nil
        let definition = NodeDefinition(
            opType: node.opType, opsetVersion: kernelOpset, domain: isML ? OperatorRegistry.mlDomain : "",
            attributes: attributes, inputCount: node.input.count, outputCount: node.output.count, label: label,
            subgraphs: subgraphs)
        // A subgraph may not read the outputs of the node it belongs to.
        scope.hidden = Set(node.output)
        defer { scope.hidden = [] }
        let kernel = try factory(definition)
        let unread = attributes.unread
        if !unread.isEmpty {
            throw InferenceError.unsupported(unread.map { "\(node.opType) attribute '\($0)'" })
        }
        if let constant = kernel as? ConstantKernel {
            scope.constants[outputs[0]] = constant.value
            scope.typeFlow.set(outputs[0], constant.value.elementType)
            return nil
        }
        inputs += subgraphs?.capturedValues ?? []
        if let problem = scope.typeFlow.visit(
            opType: node.opType, isML: isML, label: label, inputs: Array(inputs.prefix(node.input.count)), inputNames: node.input,
            outputs: outputs,
            attributes: attributes, outputTypes: (kernel as? RunsSubgraphs)?.outputTypes, kernel: kernel) {
            throw InferenceError.unsupported([problem])
        }
        return PlannedNode(opType: node.opType, label: label, kernel: kernel, inputs: inputs, outputs: outputs)
    }

    /// Whether a subgraph input or output leaves its type to the node around it (ONNX allows subgraphs, such as
    /// the bodies of expanded functions, to omit it).
    static func isUntyped(_ value: Onnx_ValueInfoProto) -> Bool {
        guard value.hasType else { return true }
        switch value.type.value {
        case .tensorType(let type)?: return type.elemType == 0
        case nil:
            // Untyped unless it holds a kind of type the schema leaves out (sparse tensor, opaque), kept as
            // unknown fields.
            return value.type.unknownFields.data.isEmpty
        default: return false
        }
    }

    /// "a sequence" or "an optional" when the value is declared as one (what the runtime carries inside a graph),
    /// else nil.
    static func nonTensorKind(_ value: Onnx_ValueInfoProto) -> String? {
        switch value.type.value {
        case .sequenceType?: "a sequence"
        case .optionalType?: "an optional"
        default: nil
        }
    }

    /// The refusal of a served model whose own input or output is a sequence or optional.
    private static func nonTensorRefusal(_ what: String, _ name: String, _ kind: String) -> InferenceError {
        .unsupported(["graph \(what) '\(name)' is \(kind): a served model's inputs and outputs must be tensors "
            + "(sequences and optionals may flow inside the graph)"])
    }

    /// The spec standing for an untyped subgraph value; its element type is never read (see `Model.untypedInputs`).
    private static func untypedSpec(_ name: String) -> TensorSpec {
        TensorSpec(name: name, elementType: .float32, shape: nil)
    }

    /// The declared type and shape of a graph input or output.
    static func spec(of value: Onnx_ValueInfoProto) throws -> TensorSpec {
        guard case .tensorType(let type)? = value.type.value else {
            let kind = if case .mapType? = value.type.value { "a map" } else { "not a tensor" }
            throw InferenceError.unsupported(["graph value '\(value.name)' that is \(kind)"])
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
