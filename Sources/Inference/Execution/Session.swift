/// The per-thread state for running one model: input, activation and output buffers.
///
/// Not thread-safe: each worker thread makes its own session per model version; the `Model` (weights, kernels) is
/// shared. Buffers grow to the largest shapes seen and are reused by later runs, so a steady stream of requests does
/// not allocate tensor memory. A run that would take the session's buffers past `memoryLimit` bytes fails with
/// `InferenceError.resourceExhausted` instead of allocating.
public final class Session {
    public let model: Model
    /// The most bytes this session's buffers may hold together.
    public let memoryLimit: Int
    /// Current tensor of every value in the graph, indexed by the model's value numbering.
    var values: [Tensor?]
    /// Storage kept per value between runs.
    private var buffers: [TensorStorage?]
    private var bufferBytes = 0
    /// Scratch memory kernels borrow while they run (im2col columns, recurrent gates); one block shared by every node.
    private var scratchStorage: TensorStorage?

    init(model: Model, memoryLimit: Int) {
        self.model = model
        self.memoryLimit = memoryLimit
        self.values = [Tensor?](repeating: nil, count: model.valueCount)
        self.buffers = [TensorStorage?](repeating: nil, count: model.valueCount)
        for (index, tensor) in model.constants {
            values[index] = tensor
        }
    }

    /// Sets model input `position` to a copy of `bytes`, after checking type and shape against the input's spec and
    /// the byte count against the shape.
    public func setInput(_ position: Int, elementType: ElementType, shape: [Int], copying bytes: UnsafeRawBufferPointer) throws(InferenceError) {
        try shape.validateShape()
        try model.inputs[position].validate(elementType: elementType, shape: shape)
        guard bytes.count == shape.elementCount * elementType.byteSize else {
            throw InferenceError.invalidInput(
                "input '\(model.inputs[position].name)' has \(bytes.count) bytes, shape \(shape) of \(elementType) needs \(shape.elementCount * elementType.byteSize)")
        }
        let tensor = try allocate(valueIndex: model.inputIndexes[position], elementType: elementType, shape: shape)
        if let base = bytes.baseAddress, bytes.count > 0 {
            tensor.storage.pointer.copyMemory(from: base, byteCount: bytes.count)
        }
    }

    /// Sets model input `position` to `tensor` (no copy) after checking it against the input's spec.
    public func setInput(_ position: Int, _ tensor: Tensor) throws(InferenceError) {
        try model.inputs[position].validate(elementType: tensor.elementType, shape: tensor.shape)
        values[model.inputIndexes[position]] = tensor
    }

    /// Runs the graph on the inputs set since the last run.
    ///
    /// - Returns: the model outputs in `model.outputs` order. They view this session's buffers and stay valid until
    ///   the next call to `setInput` or `run`.
    /// - Throws: `InferenceError.invalidInput` when an input is missing or a node rejects the inputs' shapes or
    ///   values, `.resourceExhausted` past the memory limit, `.execution` for anything else; messages name the node.
    public func run() throws(InferenceError) -> [Tensor] {
        defer { clearInputs() }
        for (position, index) in model.inputIndexes.enumerated() where values[index] == nil {
            throw InferenceError.invalidInput("input '\(model.inputs[position].name)' is missing")
        }
        for node in model.nodes {
            let io = NodeIO(session: self, inputIndexes: node.inputs, outputIndexes: node.outputs)
            do {
                try node.kernel.run(io)
            } catch let error as InferenceError {
                switch error {
                case .invalidInput(let message): throw .invalidInput("\(node.label): \(message)")
                case .resourceExhausted(let message): throw .resourceExhausted("\(node.label): \(message)")
                case .execution: throw error
                default: throw .execution(node: node.label, message: "\(error)")
                }
            } catch {
                throw .execution(node: node.label, message: "\(error)")
            }
        }
        var outputs: [Tensor] = []
        outputs.reserveCapacity(model.outputIndexes.count)
        for (position, index) in model.outputIndexes.enumerated() {
            guard let tensor = values[index] else {
                throw .execution(node: "graph", message: "output '\(model.outputs[position].name)' was not computed")
            }
            outputs.append(tensor)
        }
        return outputs
    }

    private func clearInputs() {
        for index in model.inputIndexes { values[index] = nil }
    }

    /// At least `byteCount` bytes of scratch memory, valid until the calling kernel returns; contents arbitrary.
    /// Grows to the largest request seen and counts against `memoryLimit`.
    func scratch(byteCount: Int) throws(InferenceError) -> UnsafeMutableRawPointer {
        if let existing = scratchStorage, existing.byteCapacity >= byteCount { return existing.pointer }
        let released = scratchStorage?.byteCapacity ?? 0
        guard byteCount <= memoryLimit, bufferBytes - released + byteCount <= memoryLimit else {
            throw .resourceExhausted("\(byteCount) bytes of scratch memory would take the session past its \(memoryLimit)-byte memory limit")
        }
        let storage = TensorStorage(byteCapacity: byteCount)
        scratchStorage = storage
        bufferBytes += byteCount - released
        return storage.pointer
    }

    /// A tensor of `shape` for value `valueIndex`, reusing that value's storage when it is large enough.
    func allocate(valueIndex: Int, elementType: ElementType, shape: [Int]) throws(InferenceError) -> Tensor {
        try shape.validateShape()
        let bytes = shape.elementCount * elementType.byteSize
        let storage: TensorStorage
        if let existing = buffers[valueIndex], existing.byteCapacity >= bytes {
            storage = existing
        } else {
            let released = buffers[valueIndex]?.byteCapacity ?? 0
            guard bufferBytes - released + bytes <= memoryLimit else {
                throw .resourceExhausted(
                    "a \(shape) \(elementType) tensor would take the session past its \(memoryLimit)-byte memory limit")
            }
            storage = TensorStorage(byteCapacity: bytes)
            buffers[valueIndex] = storage
            bufferBytes += bytes - released
        }
        let tensor = Tensor(elementType: elementType, shape: shape, storage: storage)
        values[valueIndex] = tensor
        return tensor
    }
}
