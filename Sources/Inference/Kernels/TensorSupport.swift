/// Helpers shared by the indexing, layout and reduction kernels.

extension Tensor {
    /// The values of a small integer tensor (int64 or int32, scalar or 1-D) given as an operator input, e.g. axes,
    /// starts, repeats or a target shape.
    ///
    /// - Throws: `InferenceError.invalidInput` naming `what` when the tensor is not an integer scalar or vector.
    func integerList(_ what: String) throws(InferenceError) -> [Int] {
        guard rank <= 1, let values = integers() else {
            throw InferenceError.invalidInput("\(what) must be a 1-D int64 tensor, got \(elementType) \(shape)")
        }
        return values
    }
}

/// Normalizes a list of possibly negative axes against `rank`, refusing out-of-range and repeated axes.
func normalizedAxes(_ axes: [Int], rank: Int) throws(InferenceError) -> [Int] {
    var result: [Int] = []
    result.reserveCapacity(axes.count)
    for axis in axes {
        let value = try normalizedAxis(axis, rank: rank)
        guard !result.contains(value) else {
            throw InferenceError.invalidInput("axis \(axis) is repeated in \(axes)")
        }
        result.append(value)
    }
    return result
}

/// Copies elements from a strided view of a source tensor into a dense, row-major destination of `shape`.
///
/// `strides[i]` is the source element step along output axis `i` (0 repeats, negative walks backwards); `offset` is
/// the source element index of the output's first element. Any element type (copied by size). Axes are merged where
/// the source walks them contiguously, so the inner loop is long; a contiguous inner run is a `memcpy`.
enum StridedCopy {
    static func copy(from source: Tensor, offset: Int, strides: [Int], shape: [Int], to destination: Tensor) {
        precondition(strides.count == shape.count && source.elementType.byteSize == destination.elementType.byteSize)
        let total = shape.elementCount
        guard total > 0 else { return }
        // Drop unit axes, then merge axis a into a+1 when the source walks them as one.
        var dims: [Int] = []
        var steps: [Int] = []
        for (dim, stride) in zip(shape, strides) where dim != 1 {
            if let lastDim = dims.last, let lastStep = steps.last, lastStep == stride * dim {
                dims[dims.count - 1] = lastDim * dim
                steps[steps.count - 1] = stride
            } else {
                dims.append(dim)
                steps.append(stride)
            }
        }
        if dims.isEmpty {
            dims = [1]
            steps = [0]
        }
        switch source.elementType.byteSize {
        case 1: run(UInt8.self, source, offset, dims, steps, destination)
        case 2: run(UInt16.self, source, offset, dims, steps, destination)
        case 4: run(UInt32.self, source, offset, dims, steps, destination)
        default: run(UInt64.self, source, offset, dims, steps, destination)
        }
    }

    private static func run<T>(_: T.Type, _ source: Tensor, _ offset: Int, _ dims: [Int], _ steps: [Int], _ destination: Tensor) {
        let src = source.storage.pointer.assumingMemoryBound(to: T.self)
        let dst = destination.storage.pointer.assumingMemoryBound(to: T.self)
        let rank = dims.count
        let inner = dims[rank - 1]
        let step = steps[rank - 1]
        let rows = dims.dropLast().reduce(1, *)
        var counter = [Int](repeating: 0, count: rank)
        var position = offset
        for row in 0..<rows {
            let from = src + position, to = dst + row * inner
            if step == 1 {
                to.update(from: from, count: inner)
            } else if step == 0 {
                to.update(repeating: from[0], count: inner)
            } else {
                for i in 0..<inner { to[i] = from[i * step] }
            }
            var axis = rank - 2
            while axis >= 0 {
                counter[axis] += 1
                position += steps[axis]
                if counter[axis] < dims[axis] { break }
                position -= steps[axis] * dims[axis]
                counter[axis] = 0
                axis -= 1
            }
        }
    }
}

/// Element types the comparison, selection and layout kernels accept by value.
extension ElementType {
    /// Whether the type is one of the numeric types kernels compute on (float32/64 and the integer types).
    var isNumeric: Bool {
        self == .float32 || self == .float64 || isInteger
    }

    /// Whether the type is a signed or unsigned integer of 8 to 64 bits (not bool).
    var isInteger: Bool {
        switch self {
        case .int8, .uint8, .int16, .uint16, .int32, .uint32, .int64, .uint64: true
        case .bool, .float16, .float32, .float64, .string: false
        }
    }

    /// Whether the type is an unsigned integer of 8 to 64 bits.
    var isUnsignedInteger: Bool {
        self == .uint8 || self == .uint16 || self == .uint32 || self == .uint64
    }
}
