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
    /// Current value of every value in the graph (a tensor, or a sequence or optional inside the graph), indexed by
    /// the model's value numbering.
    var values: [Value?]
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
        self.values = [Value?](repeating: nil, count: model.valueCount)
        for (index, tensor) in model.constants {
            values[index] = .tensor(tensor)
        }
    }

    /// Sets model input `position` to a copy of `bytes`, after checking type and shape against the input's spec and
    /// the byte count against the shape (`TensorSpec.validate(elementType:shape:byteCount:)`).
    public func setInput(_ position: Int, elementType: ElementType, shape: [Int], copying bytes: UnsafeRawBufferPointer) throws(InferenceError) {
        try setInput(position, elementType: elementType, shape: shape, byteCount: bytes.count) { target in
            if let base = bytes.baseAddress, bytes.count > 0 { target.baseAddress!.copyMemory(from: base, byteCount: bytes.count) }
        }
    }

    /// Sets model input `position` to `byteCount` bytes that `fill` writes straight into the session's buffer (no
    /// intermediate copy; e.g. several requests' rows stacked), after the same checks as `setInput(_:elementType:
    /// shape:copying:)`.
    ///
    /// `fill` gets exactly `byteCount` bytes of uninitialized memory, valid only during the call, and must write all
    /// of them. It is not called when a check fails.
    public func setInput(
        _ position: Int, elementType: ElementType, shape: [Int], byteCount: Int,
        filling fill: (UnsafeMutableRawBufferPointer) -> Void
    ) throws(InferenceError) {
        try expectTensorInput(position)
        guard elementType.hasRawBytes else {
            throw InferenceError.invalidInput("input '\(model.inputs[position].name)' is a string tensor: set it from strings, not bytes")
        }
        if model.untypedInputs.contains(position) {
            try shape.validateShape()
            guard byteCount == shape.elementCount * elementType.byteSize else {
                throw InferenceError.invalidInput("input '\(model.inputs[position].name)' of shape \(shape) takes \(shape.elementCount * elementType.byteSize) bytes, got \(byteCount)")
            }
        } else {
            try model.inputs[position].validate(elementType: elementType, shape: shape, byteCount: byteCount)
        }
        let tensor = try allocate(valueIndex: model.inputIndexes[position], elementType: elementType, shape: shape)
        fill(UnsafeMutableRawBufferPointer(start: tensor.storage.pointer, count: byteCount))
    }

    /// Sets model input `position` to `tensor` (no copy) after checking it against the input's spec.
    public func setInput(_ position: Int, _ tensor: Tensor) throws(InferenceError) {
        try expectTensorInput(position)
        if !model.untypedInputs.contains(position) {
            try model.inputs[position].validate(elementType: tensor.elementType, shape: tensor.shape)
        }
        values[model.inputIndexes[position]] = .tensor(tensor)
    }

    /// Sets model input `position` to `value`: a tensor goes through `setInput(_:_:)`; a sequence or an empty
    /// optional only binds an input the graph declares as a sequence or optional.
    func setInput(_ position: Int, value: Value) throws(InferenceError) {
        if case .tensor(let tensor) = value, !model.nonTensorInputs.contains(position) {
            return try setInput(position, tensor)
        }
        guard model.nonTensorInputs.contains(position) else {
            throw InferenceError.invalidInput(
                "input '\(model.inputs[position].name)' takes a tensor, was given \(value.kindDescription)")
        }
        values[model.inputIndexes[position]] = value
    }

    private func expectTensorInput(_ position: Int) throws(InferenceError) {
        if model.nonTensorInputs.contains(position) {
            throw InferenceError.invalidInput("input '\(model.inputs[position].name)' is a sequence or optional, not a tensor")
        }
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
    func setCapture(_ position: Int, _ value: Value) {
        values[model.captureIndexes[position]] = value
    }

    /// Runs the graph on the inputs set since the last run.
    ///
    /// - Returns: the model outputs in `model.outputs` order. They view this session's buffers and stay valid until
    ///   the next call to `setInput` or `run`.
    /// - Throws: `InferenceError.invalidInput` when an input is missing or a node rejects the inputs' shapes or
    ///   values, `.resourceExhausted` past the memory limit, `.execution` for anything else; messages name the node.
    public func run() throws(InferenceError) -> [Tensor] {
        let outputs = try runValues()
        var tensors: [Tensor] = []
        tensors.reserveCapacity(outputs.count)
        for (position, value) in outputs.enumerated() {
            guard let tensor = value.tensor else {
                throw .execution(
                    node: "graph", message: "output '\(model.outputs[position].name)' is \(value.kindDescription), not a tensor")
            }
            tensors.append(tensor)
        }
        return tensors
    }

    /// Runs the graph as `run()` does, returning its outputs whatever their kind (a subgraph's sequences, a test's).
    func runValues() throws(InferenceError) -> [Value] {
        defer { clearValues() }
        for (position, index) in model.inputIndexes.enumerated() where values[index] == nil {
            throw InferenceError.invalidInput("input '\(model.inputs[position].name)' is missing")
        }
        for index in model.captureIndexes where values[index] == nil {
            throw InferenceError.execution(node: "graph", message: "a value read from the enclosing graph is missing")
        }
        let nodes = model.nodes, releasedValues = model.releasedValues, releaseStarts = model.releaseStarts
        for position in nodes.indices {
            let node = nodes[position]
            defer { for slot in releaseStarts[position]..<releaseStarts[position + 1] { values[releasedValues[slot]] = nil } }
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
        var outputs: [Value] = []
        outputs.reserveCapacity(model.outputIndexes.count)
        for (position, index) in model.outputIndexes.enumerated() {
            guard let value = values[index] else {
                throw .execution(node: "graph", message: "output '\(model.outputs[position].name)' was not computed")
            }
            outputs.append(value)
        }
        return outputs
    }

    /// Drops every value but the constants: the caller holds the outputs it was given.
    private func clearValues() {
        for index in model.transientValues { values[index] = nil }
    }

    /// Throws `.resourceExhausted` unless `byteCount` bytes of working memory a kernel allocates for itself (tables
    /// and buffers outside the pool and the scratch block) fit under `memoryLimit` beside what the session holds.
    func checkWorkingMemory(byteCount: Int, purpose: String) throws(InferenceError) {
        guard byteCount >= 0, byteCount <= memoryLimit - bufferBytes else {
            throw .resourceExhausted(
                "\(purpose) needs \(byteCount) bytes of working memory; with \(bufferBytes) in use that passes the session's \(memoryLimit)-byte memory limit")
        }
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
        for case let value? in values {
            switch value {
            case .tensor(let tensor): live.insert(ObjectIdentifier(tensor.storage))
            case .sequence(let sequence): for tensor in sequence.tensors { live.insert(ObjectIdentifier(tensor.storage)) }
            case .noElement: break
            }
        }
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
        values[valueIndex] = nil
        let tensor = try allocate(elementType, shape, forgettingBlocksHeldOutside: true)
        values[valueIndex] = .tensor(tensor)
        return tensor
    }

    /// A tensor of `shape` in a free block of the pool (or a new block), bound to no value: an element of a
    /// sequence being built. Its block returns to the pool once nothing references it. The blocks of the elements
    /// built before it (held by the kernel, not yet by any value) stay counted.
    func allocate(_ elementType: ElementType, _ shape: [Int]) throws(InferenceError) -> Tensor {
        try allocate(elementType, shape, forgettingBlocksHeldOutside: false)
    }

    private func allocate(
        _ elementType: ElementType, _ shape: [Int], forgettingBlocksHeldOutside forgetting: Bool
    ) throws(InferenceError) -> Tensor {
        try shape.validateShape()
        if elementType == .string {
            // Strings live outside the pool (a block of initialized Strings must not be handed out as raw bytes);
            // their elements still count against the limit while they are made, so a broadcast cannot run away.
            guard bufferBytes + shape.elementCount * elementType.byteSize <= memoryLimit else {
                throw .resourceExhausted(
                    "a \(shape) string tensor would take the session past its \(memoryLimit)-byte memory limit")
            }
            return Tensor(strings: repeatElement("", count: shape.elementCount), shape: shape)
        }
        let bytes = shape.elementCount * elementType.byteSize
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
            if forgetting { forgetBlocksHeldOutside() }
            guard bufferBytes + bytes <= memoryLimit else {
                throw .resourceExhausted(
                    "a \(shape) \(elementType) tensor would take the session past its \(memoryLimit)-byte memory limit")
            }
            storage = TensorStorage(byteCapacity: bytes)
            pool.append(storage)
            bufferBytes += bytes
        }
        return Tensor(elementType: elementType, shape: shape, storage: storage)
    }
}

/// The bytes a session and its subgraph sessions hold together, so that one `memoryLimit` bounds them all.
///
/// Not thread-safe: shared only by sessions that run on one thread (a session and the children it makes).
final class MemoryAccount {
    var bytes = 0
}
