/// A kernel's view of its node's inputs and outputs during one run.
///
/// Only valid inside `Kernel.run`; it reaches into the running session's value table without copying.
public struct NodeIO {
    unowned(unsafe) let session: Session
    let inputIndexes: [Int]
    let outputIndexes: [Int]

    /// Number of input slots the node declares.
    public var inputCount: Int { inputIndexes.count }

    /// Input `position`, or nil when the slot is absent (an optional input left empty) or beyond the node's inputs.
    public func input(_ position: Int) -> Tensor? {
        value(position)?.tensor
    }

    /// Input `position`, which the node must have.
    public func requiredInput(_ position: Int) throws(InferenceError) -> Tensor {
        guard let value = value(position) else {
            throw InferenceError.invalidInput("missing input \(position)")
        }
        guard let tensor = value.tensor else {
            throw InferenceError.invalidInput("input \(position) is \(value.kindDescription), not a tensor")
        }
        return tensor
    }

    /// Input `position` whatever its kind, or nil when the slot is absent or beyond the node's inputs.
    func value(_ position: Int) -> Value? {
        guard position < inputIndexes.count, inputIndexes[position] >= 0 else { return nil }
        return session.values[inputIndexes[position]]
    }

    /// Input `position`, which must be a sequence.
    func sequence(_ position: Int) throws(InferenceError) -> TensorSequence {
        guard let value = value(position) else { throw InferenceError.invalidInput("missing input \(position)") }
        guard case .sequence(let sequence) = value else {
            throw InferenceError.invalidInput("input \(position) is \(value.kindDescription), not a sequence")
        }
        return sequence
    }

    /// Sets output `position` to `value` (a sequence, an empty optional, or a tensor view); no copy.
    func setOutput(_ position: Int, value: Value) throws(InferenceError) {
        session.values[try outputIndex(position)] = value
    }

    /// A tensor of `elementType` and `shape` to fill, bound to no output: an element of a sequence this node builds.
    func sequenceElement(_ elementType: ElementType, _ shape: [Int]) throws(InferenceError) -> Tensor {
        guard elementType.hasRawBytes else { throw InferenceError.invalidInput("sequences of strings are not supported") }
        return try session.allocate(elementType, shape)
    }

    /// A copy of `tensor` in this session's buffers, bound to no output: a subgraph's result becoming an element of
    /// a sequence this node builds.
    func sequenceElement(copying tensor: Tensor) throws(InferenceError) -> Tensor {
        let copy = try session.allocate(tensor.elementType, tensor.shape)
        tensor.copyElements(into: copy)
        return copy
    }

    /// An output tensor of `elementType` and `shape` to fill. Its storage is reused from earlier runs when large
    /// enough, so its previous contents are arbitrary.
    ///
    /// - Throws: `.invalidInput` for a shape too large to address, `.resourceExhausted` past the session's limit.
    public func output(_ position: Int, _ elementType: ElementType, _ shape: [Int]) throws(InferenceError) -> Tensor {
        try output(position, elementType, shape, writingStrings: false)
    }

    /// `output(_:_:_:)`, which may also be a string tensor when `writingStrings` is true: for kernels that write
    /// string elements as `String`s (`mutableElements(as: String.self)`), never as bytes. A string output starts as
    /// empty strings in a block of its own.
    ///
    /// - Throws: `.invalidInput` for a string output without `writingStrings` (a kernel that moves elements as bytes
    ///   must never write Strings: their reference counts would break), else as `output(_:_:_:)`.
    func output(_ position: Int, _ elementType: ElementType, _ shape: [Int], writingStrings: Bool) throws(InferenceError) -> Tensor {
        guard writingStrings || elementType.hasRawBytes else {
            throw InferenceError.invalidInput("this operator does not produce string tensors")
        }
        return try session.allocate(valueIndex: outputIndex(position), elementType: elementType, shape: shape)
    }

    /// Sets output `position` to an existing tensor (a view such as a reshape of an input); no copy.
    public func setOutput(_ position: Int, _ tensor: Tensor) throws(InferenceError) {
        session.values[try outputIndex(position)] = .tensor(tensor)
    }

    /// Throws `.resourceExhausted` unless `bytes` of memory the kernel allocates for itself during the run (tables,
    /// work buffers) fit under the session's memory limit beside what it holds; call before allocating them.
    func checkWorkingMemory(_ bytes: Int, for purpose: String) throws(InferenceError) {
        try session.checkWorkingMemory(byteCount: bytes, purpose: purpose)
    }

    /// Scratch space for `count` floats, valid until the kernel returns; contents arbitrary. One block serves every
    /// node of the session, so a kernel must not keep it across runs or hand it to an output.
    ///
    /// - Throws: `.invalidInput` when `count` is too large to address, `.resourceExhausted` past the session's limit.
    public func scratch(floats count: Int) throws(InferenceError) -> UnsafeMutablePointer<Float> {
        try scratch(Float.self, count: count)
    }

    /// Scratch space for `count` values of a trivial type `T`, with the same rules as `scratch(floats:)`.
    func scratch<T>(_: T.Type, count: Int) throws(InferenceError) -> UnsafeMutablePointer<T> {
        guard count >= 0, count <= [Int].maximumShapeVolume else {
            throw InferenceError.invalidInput("a scratch buffer of \(count) elements is too large")
        }
        return try session.scratch(byteCount: count * MemoryLayout<T>.stride).bindMemory(to: T.self, capacity: count)
    }

    private func outputIndex(_ position: Int) throws(InferenceError) -> Int {
        guard position < outputIndexes.count else {
            throw InferenceError.invalidModel("the node has no output \(position)")
        }
        return outputIndexes[position]
    }
}
