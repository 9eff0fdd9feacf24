/// A graph attribute of a control-flow node (If's branches, Loop's and Scan's body), planned once at load.
///
/// Immutable and shared like the kernel holding it. Each run goes through a session the node's session keeps for
/// it (`Session.subsession(for:)`), so a subgraph's buffers are reused from one iteration (and request) to the next.
struct Subgraph: Sendable {
    /// The attribute name, for messages: "body", "then_branch".
    let name: String
    let model: Model
    /// For each value the subgraph reads from the enclosing graph, the node input slot holding it.
    let captureSlots: [Int]

    var inputCount: Int { model.inputs.count }
    var outputCount: Int { model.outputs.count }

    /// The element type the subgraph declares for output `position`, or nil when it leaves it to the node.
    func outputType(_ position: Int) -> ElementType? {
        declaredOutput(position)?.elementType
    }

    /// The declared output `position`, or nil when untyped or a sequence or optional (for an empty scan output's
    /// type and shape).
    func declaredOutput(_ position: Int) -> TensorSpec? {
        model.untypedOutputs.contains(position) || model.nonTensorOutputs.contains(position) ? nil : model.outputs[position]
    }

    /// Starts a run of the subgraph inside the node running through `io`: bind the inputs, then `run()`.
    func start(_ io: NodeIO) -> SubgraphRun {
        SubgraphRun(subgraph: self, session: io.session.subsession(for: model), io: io)
    }
}

/// One run of a subgraph: its inputs are bound, then it runs; errors name the subgraph (the node's session adds the
/// node).
///
/// Only valid inside the control-flow kernel's `run`.
struct SubgraphRun {
    let subgraph: Subgraph
    let session: Session
    let io: NodeIO

    /// Binds subgraph input `position` to `value` (no copy), after checking a tensor's element type and that a
    /// sequence or optional goes to an input declared as one.
    func bind(_ position: Int, _ value: Value) throws(InferenceError) {
        do {
            try session.setInput(position, value: value)
        } catch {
            throw named(error)
        }
    }

    /// Binds subgraph input `position` to a scalar copied into the subgraph's buffers (an iteration number, a
    /// condition).
    func bind<T: BitwiseCopyable>(_ position: Int, scalar value: T, _ elementType: ElementType) throws(InferenceError) {
        do {
            try withUnsafeBytes(of: value) { bytes throws(InferenceError) in
                try session.setInput(position, elementType: elementType, shape: [], copying: bytes)
            }
        } catch {
            throw named(error)
        }
    }

    /// Binds subgraph input `position` to a copy of the slice of `source` at `indexes` along `axes` (those axes
    /// removed): a scan input's element, in the subgraph's buffers.
    func bind(_ position: Int, sliceOf source: Tensor, axes: [Int], at indexes: [Int]) throws(InferenceError) {
        var shape = source.shape
        var strides = source.shape.strides
        var offset = 0
        for (axis, index) in zip(axes, indexes).reversed() {
            offset += index * strides[axis]
            shape.remove(at: axis)
            strides.remove(at: axis)
        }
        do {
            if !session.model.untypedInputs.contains(position) {
                try session.model.inputs[position].validate(elementType: source.elementType, shape: shape)
            }
            let slice = try session.allocate(
                valueIndex: session.model.inputIndexes[position], elementType: source.elementType, shape: shape)
            StridedCopy.copy(from: source, offset: offset, strides: strides, shape: shape, to: slice)
        } catch {
            throw named(error)
        }
    }

    /// Binds the captured outer values and runs the subgraph.
    ///
    /// - Returns: its outputs, whose tensors (a sequence's too) view the subgraph session's buffers: copy what must
    ///   outlive the next run (`NodeIO.setOutput(_:copying:)`).
    func run() throws(InferenceError) -> [Value] {
        for (position, slot) in subgraph.captureSlots.enumerated() {
            guard let value = io.value(slot) else {
                throw InferenceError.execution(node: subgraph.name, message: "an outer value it reads was not computed")
            }
            session.setCapture(position, value)
        }
        do {
            return try session.runValues()
        } catch {
            throw named(error)
        }
    }

    /// Runs the subgraph as `run()` does, requiring every output to be a tensor (Scan's, a condition).
    func runTensors() throws(InferenceError) -> [Tensor] {
        var tensors: [Tensor] = []
        for (position, value) in try run().enumerated() {
            guard let tensor = value.tensor else {
                throw InferenceError.invalidInput(
                    "\(subgraph.name) output \(position) is \(value.kindDescription) where a tensor is needed")
            }
            tensors.append(tensor)
        }
        return tensors
    }

    private func named(_ error: InferenceError) -> InferenceError {
        switch error {
        case .invalidInput(let message): .invalidInput("\(subgraph.name): \(message)")
        case .resourceExhausted(let message): .resourceExhausted("\(subgraph.name): \(message)")
        case .execution(let node, let message): .execution(node: "\(subgraph.name): \(node)", message: message)
        case .invalidModel(let message): .invalidModel("\(subgraph.name): \(message)")
        case .unsupported: error
        }
    }
}

/// A kernel that runs subgraphs: its weights are theirs, and its outputs' element types are those the subgraphs
/// declare (what the load-time float16 check follows).
protocol RunsSubgraphs: Kernel, HoldsWeights {
    var subgraphs: [Subgraph] { get }
    /// The element type of each node output, where the subgraphs declare it.
    var outputTypes: [ElementType?] { get }
}

extension RunsSubgraphs {
    var heldWeightBytes: Int { subgraphs.reduce(0) { $0 + $1.model.weightBytes } }
}

extension NodeIO {
    /// Sets output `position` to a copy of `tensor` in this session's buffers (a subgraph's result, whose own buffer
    /// its session reuses on the next run).
    func setOutput(_ position: Int, copying tensor: Tensor) throws(InferenceError) {
        tensor.copyElements(into: try output(position, tensor.elementType, tensor.shape, writingStrings: true))
    }

    /// Sets output `position` to a copy of `value` in this session's buffers: a tensor as `setOutput(_:copying:)`,
    /// a sequence tensor by tensor (so this session counts them and the subgraph's session reuses its own).
    func setOutput(_ position: Int, copying value: Value) throws(InferenceError) {
        switch value {
        case .tensor(let tensor):
            try setOutput(position, copying: tensor)
        case .sequence(var sequence):
            sequence.tensors = try sequence.tensors.map { tensor throws(InferenceError) in try sequenceElement(copying: tensor) }
            try setOutput(position, value: .sequence(sequence))
        case .noElement:
            try setOutput(position, value: value)
        }
    }
}

extension Tensor {
    /// The one value of a single-element bool tensor (an If or Loop condition).
    func singleBool(_ what: String) throws(InferenceError) -> Bool {
        guard elementType == .bool, count == 1 else {
            throw InferenceError.invalidInput("\(what) must be a single bool, got \(elementType) \(shape)")
        }
        return elements(as: UInt8.self)[0] != 0
    }
}
