/// A node output built from one equally shaped slice per iteration, stacked along new leading axes: Loop's and
/// Scan's scan outputs, and Scan-8's per-batch final states.
///
/// With `leading` given (Scan: the iteration count, and for Scan-8 the batch size before it) the output is allocated
/// at the first slice in its final shape — `slice[..<axis] + leading + slice[axis...]` — and each slice is written at
/// its flat index in `leading`. Without it (Loop, whose iteration count is known only at the end) slices are
/// appended along axis 0 into a buffer that doubles when full. Either way the memory is the node's output, taken
/// from its session's pool.
struct StackedOutput {
    /// The node output position.
    let position: Int
    /// The stacked axes' sizes, or nil to grow along axis 0.
    let leading: [Int]?
    /// Where the stacked axes go among the slice's axes; negative counts from the back of the output's rank.
    let axis: Int
    /// Whether slots no slice fills read as zeros (Scan-8's padding past a sequence's length).
    let zeroFill: Bool

    private var buffer: Tensor?
    private var sliceShape: [Int] = []
    private var resolvedAxis = 0
    private var appended = 0
    private var capacity = 0

    init(position: Int, leading: [Int]?, axis: Int = 0, zeroFill: Bool = false) {
        self.position = position
        self.leading = leading
        self.axis = axis
        self.zeroFill = zeroFill
    }

    /// Writes `slice` at flat `index` of the leading axes (the next index when growing).
    mutating func place(_ slice: Tensor, at index: Int? = nil, _ io: NodeIO) throws(InferenceError) {
        if let buffer {
            guard slice.shape == sliceShape, slice.elementType == buffer.elementType else {
                throw InferenceError.invalidInput(
                    "scan output \(position) changed from \(buffer.elementType) \(sliceShape) to \(slice.elementType) "
                        + "\(slice.shape) between iterations")
            }
        } else {
            sliceShape = slice.shape
            resolvedAxis = try normalizedAxis(axis, rank: slice.rank + 1)
        }
        let slots: Int
        if let leading {
            slots = leading.elementCount
            if buffer == nil { buffer = try allocate(slice.elementType, slots: slots, io) }
        } else {
            if appended == capacity {
                capacity = Swift.max(4, capacity * 2)
                let grown = try allocate(slice.elementType, slots: capacity, io)
                if let buffer, buffer.byteCount > 0 {
                    grown.storage.pointer.copyMemory(from: buffer.storage.pointer, byteCount: appended * slice.byteCount)
                }
                buffer = grown
            }
            slots = capacity
        }
        let slot = index ?? appended
        appended += 1
        guard let buffer, slice.byteCount > 0 else { return }
        let outer = sliceShape[..<resolvedAxis].reduce(1, *)
        let inner = slice.byteCount / outer
        for row in 0..<outer {
            (buffer.storage.pointer + (row * slots + slot) * inner)
                .copyMemory(from: slice.storage.pointer + row * inner, byteCount: inner)
        }
    }

    /// Sets the node output. With no slice placed, it is empty (0 along the stacked axis) with `declared`'s element
    /// type and its shape where known (unknown dimensions as 0).
    ///
    /// - Throws: `.invalidInput` when no slice was placed and the subgraph declares no type for the output.
    mutating func finish(declared: TensorSpec?, _ io: NodeIO) throws(InferenceError) {
        guard let buffer else {
            guard let declared else {
                throw InferenceError.invalidInput(
                    "scan output \(position) has no element and the body declares no type for it")
            }
            let slice = declared.shape.map { $0.map { $0 ?? 0 } } ?? []
            let axis = try normalizedAxis(self.axis, rank: slice.count + 1)
            let stacked = leading ?? [0]
            let empty = try io.output(position, declared.elementType, Array(slice[..<axis]) + stacked + Array(slice[axis...]))
            if zeroFill && empty.byteCount > 0 {
                empty.storage.pointer.initializeMemory(as: UInt8.self, repeating: 0, count: empty.byteCount)
            }
            return
        }
        if leading == nil {
            let shape = [appended] + sliceShape
            try io.setOutput(position, Tensor(elementType: buffer.elementType, shape: shape, storage: buffer.storage))
        }
    }

    private func allocate(_ elementType: ElementType, slots: Int, _ io: NodeIO) throws(InferenceError) -> Tensor {
        let stacked = leading ?? [slots]
        let shape = Array(sliceShape[..<resolvedAxis]) + stacked + Array(sliceShape[resolvedAxis...])
        let tensor = try io.output(position, elementType, shape)
        if zeroFill && tensor.byteCount > 0 { tensor.storage.pointer.initializeMemory(as: UInt8.self, repeating: 0, count: tensor.byteCount) }
        return tensor
    }
}
