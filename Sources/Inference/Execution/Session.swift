/// The per-thread state for running one model: input, activation and output buffers.
///
/// Not thread-safe: each worker thread makes its own session per model version; the `Model` (weights, kernels) is
/// shared. Tensor memory comes from a pool of blocks the session keeps between runs: a value's block returns to the
/// pool after the last node reading it, so later values (and later runs) reuse it, and a steady stream of requests
/// does not allocate. A block still referenced outside the session (an output tensor the caller kept) is never
/// handed out again while it is. A run that would take the session's memory past `memoryLimit` bytes fails with
/// `InferenceError.resourceExhausted` instead of allocating.
///
/// A control-flow node (If, Loop, Scan) runs its subgraph through a child session of this one, made on first use and
/// kept for later runs (`subsession(for:)`); children count their memory against the same limit.
public final class Session {
    public let model: Model
    /// The most bytes this session's buffers may hold together.
    public let memoryLimit: Int
    /// Current tensor of every value in the graph, indexed by the model's value numbering.
    var values: [Tensor?]
    /// Every block of tensor memory the session owns; a block is free when this array holds its only reference.
    private var pool: [TensorStorage] = []
    /// Bytes held by this session and its subgraph sessions together.
    private let account: MemoryAccount
    private var bufferBytes: Int {
        get { account.bytes }
        set { account.bytes = newValue }
    }
    /// The sessions running this model's subgraphs, by subgraph.
    private var subsessions: [ObjectIdentifier: Session] = [:]
    /// Bytes of tensor and scratch memory the session (with its subgraph sessions) holds now (what `memoryLimit`
    /// bounds).
    public var memoryInUse: Int { bufferBytes }
    /// Scratch memory kernels borrow while they run (im2col columns, recurrent gates); one block shared by every node.
    private var scratchStorage: TensorStorage?
    /// When set, every run adds each node's time to it (for `zserve perf --profile`); nil costs nothing.
    public var profile: NodeProfile?

    init(model: Model, memoryLimit: Int, account: MemoryAccount = MemoryAccount()) {
        self.model = model
        self.memoryLimit = memoryLimit
        self.account = account
        self.values = [Tensor?](repeating: nil, count: model.valueCount)
        for (index, tensor) in model.constants {
            values[index] = tensor
        }
    }

    /// Sets model input `position` to a copy of `bytes`, after checking type and shape against the input's spec and
    /// the byte count against the shape (`TensorSpec.validate(elementType:shape:byteCount:)`).
    public func setInput(_ position: Int, elementType: ElementType, shape: [Int], copying bytes: UnsafeRawBufferPointer) throws(InferenceError) {
        if model.untypedInputs.contains(position) {
            try shape.validateShape()
        } else {
            try model.inputs[position].validate(elementType: elementType, shape: shape, byteCount: bytes.count)
        }
        let tensor = try allocate(valueIndex: model.inputIndexes[position], elementType: elementType, shape: shape)
        if let base = bytes.baseAddress, bytes.count > 0 {
            tensor.storage.pointer.copyMemory(from: base, byteCount: bytes.count)
        }
    }

    /// Sets model input `position` to `tensor` (no copy) after checking it against the input's spec.
    public func setInput(_ position: Int, _ tensor: Tensor) throws(InferenceError) {
        if !model.untypedInputs.contains(position) {
            try model.inputs[position].validate(elementType: tensor.elementType, shape: tensor.shape)
        }
        values[model.inputIndexes[position]] = tensor
    }

    /// The session that runs `subgraph` (a graph attribute of one of this model's nodes) for this one: made on
    /// first use, then kept with its buffers for later runs. It shares this session's memory limit and count.
    func subsession(for subgraph: Model) -> Session {
        let key = ObjectIdentifier(subgraph)
        if let existing = subsessions[key] { return existing }
        let session = Session(model: subgraph, memoryLimit: memoryLimit, account: account)
        subsessions[key] = session
        return session
    }

    /// Binds the value a subgraph reads from its enclosing graph (`model.captureIndexes[position]`); no check, the
    /// enclosing graph computed it.
    func setCapture(_ position: Int, _ tensor: Tensor) {
        values[model.captureIndexes[position]] = tensor
    }

    /// Runs the graph on the inputs set since the last run.
    ///
    /// - Returns: the model outputs in `model.outputs` order. They view this session's buffers and stay valid until
    ///   the next call to `setInput` or `run`.
    /// - Throws: `InferenceError.invalidInput` when an input is missing or a node rejects the inputs' shapes or
    ///   values, `.resourceExhausted` past the memory limit, `.execution` for anything else; messages name the node.
    public func run() throws(InferenceError) -> [Tensor] {
        defer { clearValues() }
        for (position, index) in model.inputIndexes.enumerated() where values[index] == nil {
            throw InferenceError.invalidInput("input '\(model.inputs[position].name)' is missing")
        }
        for index in model.captureIndexes where values[index] == nil {
            throw InferenceError.execution(node: "graph", message: "a value read from the enclosing graph is missing")
        }
        for (position, node) in model.nodes.enumerated() {
            defer { for value in model.releases[position] { values[value] = nil } }
            let io = NodeIO(session: self, inputIndexes: node.inputs, outputIndexes: node.outputs)
            do {
                if profile == nil {
                    try node.kernel.run(io)
                } else {
                    let start = ContinuousClock.now
                    try node.kernel.run(io)
                    profile?.add(ContinuousClock.now - start, node: position)
                }
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

    /// Drops every value but the constants: the caller holds the outputs it was given.
    private func clearValues() {
        for index in model.transientValues { values[index] = nil }
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

    /// Drops from the pool (and the memory count) the blocks that are neither free nor any value's: outputs of
    /// earlier runs the caller still holds, which are the caller's from now on.
    private func forgetBlocksHeldOutside() {
        var live = Set<ObjectIdentifier>()
        for case let tensor? in values { live.insert(ObjectIdentifier(tensor.storage)) }
        var index = 0
        while index < pool.count {
            if !isKnownUniquelyReferenced(&pool[index]) && !live.contains(ObjectIdentifier(pool[index])) {
                bufferBytes -= pool[index].byteCapacity
                pool.remove(at: index)
            } else {
                index += 1
            }
        }
    }

    /// A tensor of `shape` for value `valueIndex` in a free block of the pool, or a new block.
    ///
    /// The smallest free block that fits is taken; when none fits, the largest free block (too small) is replaced,
    /// so the pool holds at most as many blocks as values are live at once.
    func allocate(valueIndex: Int, elementType: ElementType, shape: [Int]) throws(InferenceError) -> Tensor {
        try shape.validateShape()
        let bytes = shape.elementCount * elementType.byteSize
        values[valueIndex] = nil
        var best: Int?
        var largestFree: Int?
        for index in pool.indices where isKnownUniquelyReferenced(&pool[index]) {
            let capacity = pool[index].byteCapacity
            if capacity >= bytes, best.map({ capacity < pool[$0].byteCapacity }) ?? true { best = index }
            if largestFree.map({ capacity > pool[$0].byteCapacity }) ?? true { largestFree = index }
        }
        let storage: TensorStorage
        if let best {
            storage = pool[best]
        } else {
            if let largestFree {
                bufferBytes -= pool[largestFree].byteCapacity
                pool.remove(at: largestFree)
            }
            forgetBlocksHeldOutside()
            guard bufferBytes + bytes <= memoryLimit else {
                throw .resourceExhausted(
                    "a \(shape) \(elementType) tensor would take the session past its \(memoryLimit)-byte memory limit")
            }
            storage = TensorStorage(byteCapacity: bytes)
            pool.append(storage)
            bufferBytes += bytes
        }
        let tensor = Tensor(elementType: elementType, shape: shape, storage: storage)
        values[valueIndex] = tensor
        return tensor
    }
}

/// The bytes a session and its subgraph sessions hold together, so that one `memoryLimit` bounds them all.
///
/// Not thread-safe: shared only by sessions that run on one thread (a session and the children it makes).
final class MemoryAccount {
    var bytes = 0
}
