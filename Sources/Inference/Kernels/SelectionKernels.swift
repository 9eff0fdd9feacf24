/// Compress: the slices along `axis` (or the elements of the flattened input, without one) whose condition is true;
/// a condition shorter than the axis selects nothing past its end. Any element type.
struct CompressKernel: Kernel {
    let axis: Int?

    init(_ node: NodeDefinition) throws {
        try node.expectInputs(2)
        axis = try node.attributes.int("axis")
    }

    func run(_ io: NodeIO) throws {
        var x = try io.requiredInput(0)
        let condition = try io.requiredInput(1)
        guard condition.elementType == .bool, condition.rank == 1 else {
            throw InferenceError.invalidInput("Compress condition must be a 1-D bool tensor, got \(condition.elementType) \(condition.shape)")
        }
        if axis == nil { x = x.reshaped([x.count]) }
        let axis = try normalizedAxis(self.axis ?? 0, rank: x.rank)
        let flags = condition.elements(as: UInt8.self)
        guard flags.count <= x.shape[axis] else {
            throw InferenceError.invalidInput("Compress condition of \(flags.count) is longer than axis \(axis) of \(x.shape)")
        }
        let kept = flags.indices.filter { flags[$0] != 0 }
        var shape = x.shape
        shape[axis] = kept.count
        let y = try io.output(0, x.elementType, shape)
        let size = x.elementType.byteSize
        let (outer, inner) = (x.shape[..<axis].reduce(1, *), x.shape[(axis + 1)...].reduce(1, *) * size)
        for o in 0..<outer {
            for (position, index) in kept.enumerated() {
                (y.storage.pointer + (o * kept.count + position) * inner)
                    .copyMemory(from: x.storage.pointer + (o * x.shape[axis] + index) * inner, byteCount: inner)
            }
        }
    }
}

/// NonZero: the coordinates of the non-zero elements, int64 [rank, count] in row-major order. Numeric and bool.
struct NonZeroKernel: Kernel {
    init(_ node: NodeDefinition) throws {
        try node.expectInputs(1)
    }

    func run(_ io: NodeIO) throws {
        let x = try io.requiredInput(0)
        let size = x.elementType.byteSize
        let bytes = x.bytes
        var found: [Int] = []
        for i in 0..<x.count {
            // Zero in every numeric type here is all-zero bytes, except −0.0, which is zero too.
            var nonzero = false
            for b in 0..<size where bytes[i * size + b] != 0 { nonzero = true; break }
            if nonzero && (x.elementType == .float32 || x.elementType == .float64 || x.elementType == .float16) {
                let negativeZero = (0..<size).allSatisfy { b in bytes[i * size + b] == (b == size - 1 ? 0x80 : 0) }
                nonzero = !negativeZero
            }
            if nonzero { found.append(i) }
        }
        let rank = x.rank, strides = x.shape.strides
        let y = try io.output(0, .int64, [rank, found.count])
        let out = y.mutableElements(as: Int64.self)
        for (column, index) in found.enumerated() {
            for d in 0..<rank { out[d * found.count + column] = Int64(index / strides[d] % x.shape[d]) }
        }
    }
}

/// ReverseSequence: each batch entry's first sequence_lens[b] steps along `time_axis` reversed, the rest kept.
/// Any element type; `batch_axis` and `time_axis` are 0 and 1 in either order.
struct ReverseSequenceKernel: Kernel {
    let batchAxis: Int
    let timeAxis: Int

    init(_ node: NodeDefinition) throws {
        try node.expectInputs(2)
        batchAxis = try node.attributes.int("batch_axis", default: 1)
        timeAxis = try node.attributes.int("time_axis", default: 0)
        guard Set([batchAxis, timeAxis]) == [0, 1] else {
            throw InferenceError.invalidModel("\(node.label): batch_axis and time_axis must be 0 and 1")
        }
    }

    func run(_ io: NodeIO) throws {
        let x = try io.requiredInput(0)
        let lengths = try io.requiredInput(1).integerList("ReverseSequence sequence_lens")
        guard x.rank >= 2, lengths.count == x.shape[batchAxis] else {
            throw InferenceError.invalidInput("ReverseSequence needs one length per batch entry of \(x.shape)")
        }
        let steps = x.shape[timeAxis]
        guard lengths.allSatisfy({ $0 >= 0 && $0 <= steps }) else {
            throw InferenceError.invalidInput("ReverseSequence lengths \(lengths) exceed \(steps) steps")
        }
        let y = try io.output(0, x.elementType, x.shape)
        let slice = x.shape[2...].reduce(1, *) * x.elementType.byteSize
        for b in 0..<lengths.count {
            for t in 0..<steps {
                let source = t < lengths[b] ? lengths[b] - 1 - t : t
                func offset(_ time: Int) -> Int { (timeAxis == 0 ? time * lengths.count + b : b * steps + time) * slice }
                (y.storage.pointer + offset(t)).copyMemory(from: x.storage.pointer + offset(source), byteCount: slice)
            }
        }
    }
}

/// CenterCropPad: each listed axis (all by default) cropped or zero-padded to the given size around its centre (an
/// odd difference leaves the extra element at the end). Any element type.
struct CenterCropPadKernel: Kernel {
    let axes: [Int]?

    init(_ node: NodeDefinition) throws {
        try node.expectInputs(2)
        axes = try node.attributes.ints("axes")
    }

    func run(_ io: NodeIO) throws {
        let x = try io.requiredInput(0)
        let sizes = try io.requiredInput(1).integerList("CenterCropPad shape")
        let axes = try self.axes.map { try normalizedAxes($0, rank: x.rank) } ?? Array(0..<x.rank)
        guard sizes.count == axes.count, sizes.allSatisfy({ $0 >= 0 }) else {
            throw InferenceError.invalidInput("CenterCropPad shape \(sizes) does not fit axes \(axes)")
        }
        var shape = x.shape, sourceStart = [Int](repeating: 0, count: x.rank), targetStart = sourceStart
        var copied = x.shape
        for (axis, size) in zip(axes, sizes) {
            let dim = x.shape[axis]
            shape[axis] = size
            copied[axis] = Swift.min(dim, size)
            if size < dim { sourceStart[axis] = (dim - size) / 2 } else { targetStart[axis] = (size - dim) / 2 }
        }
        let y = try io.output(0, x.elementType, shape)
        y.storage.pointer.initializeMemory(as: UInt8.self, repeating: 0, count: y.byteCount)
        guard copied.elementCount > 0 else { return }
        let (inStrides, outStrides) = (x.shape.strides, shape.strides)
        let inOffset = zip(sourceStart, inStrides).map(*).reduce(0, +)
        let outOffset = zip(targetStart, outStrides).map(*).reduce(0, +)
        // Copy the kept block into a dense scratch tensor, then scatter it row by row into the output.
        let block = Tensor(elementType: x.elementType, shape: copied, storage: TensorStorage(byteCapacity: copied.elementCount * x.elementType.byteSize))
        StridedCopy.copy(from: x, offset: inOffset, strides: inStrides, shape: copied, to: block)
        let size = x.elementType.byteSize
        let row = copied.last ?? 1, rows = copied.elementCount / Swift.max(row, 1)
        let blockStrides = copied.strides
        for r in 0..<rows {
            var target = outOffset, rest = r * row
            for d in 0..<copied.count { target += (rest / blockStrides[d]) * outStrides[d]; rest %= blockStrides[d] }
            (y.storage.pointer + target * size).copyMemory(from: block.storage.pointer + r * row * size, byteCount: row * size)
        }
    }
}
