/// The per-thread state for running one model: input, activation and output buffers.
///
/// Not thread-safe: each worker thread makes its own session per model version; the `Model` (weights, kernels) is
/// shared. Buffers grow to the largest shapes seen and are reused by later runs, so a steady stream of requests does
/// not allocate tensor memory.
public final class Session {
    public let model: Model
    /// Current tensor of every value in the graph, indexed by the model's value numbering.
    var values: [Tensor?]
    /// Storage kept per value between runs.
    private var buffers: [TensorStorage?]

    init(model: Model) {
        self.model = model
        self.values = [Tensor?](repeating: nil, count: model.valueCount)
        self.buffers = [TensorStorage?](repeating: nil, count: model.valueCount)
        for (index, tensor) in model.constants {
            values[index] = tensor
        }
    }

    /// A writable tensor for model input `position`, to be filled by the caller before `run()`.
    ///
    /// The caller validates the shape against `model.inputs[position]` first.
    public func inputBuffer(_ position: Int, shape: [Int]) -> Tensor {
        let spec = model.inputs[position]
        return allocate(valueIndex: model.inputIndexes[position], elementType: spec.elementType, shape: shape)
    }

    /// Sets model input `position` to `tensor` after checking it against the input's spec.
    public func setInput(_ position: Int, _ tensor: Tensor) throws {
        try model.inputs[position].validate(elementType: tensor.elementType, shape: tensor.shape)
        values[model.inputIndexes[position]] = tensor
    }

    /// Runs the graph on the inputs set since the last run.
    ///
    /// - Returns: the model outputs in `model.outputs` order. They view this session's buffers and stay valid until
    ///   the next call to `inputBuffer`, `setInput` or `run`.
    /// - Throws: `InferenceError.invalidInput` when an input is missing, `.execution` naming the failing node.
    public func run() throws -> [Tensor] {
        defer { clearInputs() }
        for (position, index) in model.inputIndexes.enumerated() where values[index] == nil {
            throw InferenceError.invalidInput("input '\(model.inputs[position].name)' is missing")
        }
        for node in model.nodes {
            let io = NodeIO(session: self, inputIndexes: node.inputs, outputIndexes: node.outputs)
            do {
                try node.kernel.run(io)
            } catch let error as InferenceError {
                if case .execution = error { throw error }
                throw InferenceError.execution(node: node.label, message: "\(error)")
            } catch {
                throw InferenceError.execution(node: node.label, message: "\(error)")
            }
        }
        return try model.outputIndexes.enumerated().map { position, index in
            guard let tensor = values[index] else {
                throw InferenceError.execution(node: "graph", message: "output '\(model.outputs[position].name)' not computed")
            }
            return tensor
        }
    }

    private func clearInputs() {
        for index in model.inputIndexes { values[index] = nil }
    }

    func allocate(valueIndex: Int, elementType: ElementType, shape: [Int]) -> Tensor {
        let bytes = shape.elementCount * elementType.byteSize
        let storage: TensorStorage
        if let existing = buffers[valueIndex], existing.byteCapacity >= bytes {
            storage = existing
        } else {
            storage = TensorStorage(byteCapacity: bytes)
            buffers[valueIndex] = storage
        }
        let tensor = Tensor(elementType: elementType, shape: shape, storage: storage)
        values[valueIndex] = tensor
        return tensor
    }
}
