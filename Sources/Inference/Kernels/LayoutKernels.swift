/// Unsqueeze: inserts unit axes (opset ≥ 13: axes as an int64 input; before: the `axes` attribute). A view.
struct UnsqueezeKernel: Kernel {
    let attributeAxes: [Int]?

    init(_ node: NodeDefinition) throws {
        if node.opsetVersion >= 13 {
            try node.expectInputs(2)
            attributeAxes = nil
        } else {
            try node.expectInputs(1)
            guard let axes = try node.attributes.ints("axes") else {
                throw InferenceError.invalidModel("\(node.label) has no axes attribute")
            }
            attributeAxes = axes
        }
    }

    func run(_ io: NodeIO) throws {
        let x = try io.requiredInput(0)
        let axes = try attributeAxes ?? io.requiredInput(1).integerList("Unsqueeze axes")
        let rank = x.rank + axes.count
        let inserted = try normalizedAxes(axes, rank: rank)
        var shape: [Int] = []
        shape.reserveCapacity(rank)
        var next = 0
        for axis in 0..<rank {
            if inserted.contains(axis) {
                shape.append(1)
            } else {
                shape.append(x.shape[next])
                next += 1
            }
        }
        try io.setOutput(0, x.reshaped(shape))
    }
}

/// Squeeze: removes unit axes, the given ones or all (opset ≥ 13: optional axes input; before: attribute). A view.
struct SqueezeKernel: Kernel {
    let attributeAxes: [Int]?
    let axesFromInput: Bool

    init(_ node: NodeDefinition) throws {
        if node.opsetVersion >= 13 {
            try node.expectInputs(1, 2)
            attributeAxes = nil
            axesFromInput = true
        } else {
            try node.expectInputs(1)
            attributeAxes = try node.attributes.ints("axes")
            axesFromInput = false
        }
    }

    func run(_ io: NodeIO) throws {
        let x = try io.requiredInput(0)
        var axes = attributeAxes
        if axesFromInput, let tensor = io.input(1) {
            axes = try tensor.integerList("Squeeze axes")
        }
        let shape: [Int]
        if let axes {
            let removed = try normalizedAxes(axes, rank: x.rank)
            for axis in removed where x.shape[axis] != 1 {
                throw InferenceError.invalidInput("Squeeze axis \(axis) of shape \(x.shape) is not 1")
            }
            shape = x.shape.indices.filter { !removed.contains($0) }.map { x.shape[$0] }
        } else {
            shape = x.shape.filter { $0 != 1 }
        }
        try io.setOutput(0, x.reshaped(shape))
    }
}

/// Shape: the input's dimensions as int64, optionally the slice `start..<end` (opset 15, clamped like Python).
struct ShapeKernel: Kernel {
    let start: Int
    let end: Int?

    init(_ node: NodeDefinition) throws {
        try node.expectInputs(1)
        start = try node.attributes.int("start", default: 0)
        end = try node.attributes.int("end")
    }

    func run(_ io: NodeIO) throws {
        let x = try io.requiredInput(0)
        let rank = x.rank
        func clamp(_ value: Int) -> Int {
            let v = value < 0 ? value + rank : value
            return Swift.min(Swift.max(v, 0), rank)
        }
        let from = clamp(start)
        let to = Swift.max(from, clamp(end ?? rank))
        let y = try io.output(0, .int64, [to - from])
        let out = y.mutableElements(as: Int64.self)
        for (i, axis) in (from..<to).enumerated() { out[i] = Int64(x.shape[axis]) }
    }
}

/// Slice with starts/ends/axes/steps as inputs (opset ≥ 10) or attributes (before); negative indices count from
/// the end, out-of-range values clamp, negative steps walk backwards. Any element type.
struct SliceKernel: Kernel {
    /// starts, ends, axes from attributes (opset < 10).
    let attributeForm: (starts: [Int], ends: [Int], axes: [Int]?)?

    init(_ node: NodeDefinition) throws {
        if node.opsetVersion >= 10 {
            try node.expectInputs(3, 5)
            attributeForm = nil
        } else {
            try node.expectInputs(1)
            guard let starts = try node.attributes.ints("starts"), let ends = try node.attributes.ints("ends") else {
                throw InferenceError.invalidModel("\(node.label) needs starts and ends attributes")
            }
            attributeForm = (starts, ends, try node.attributes.ints("axes"))
        }
    }

    func run(_ io: NodeIO) throws {
        let x = try io.requiredInput(0)
        let starts: [Int], ends: [Int], axesGiven: [Int]?, stepsGiven: [Int]?
        if let attributeForm {
            (starts, ends, axesGiven, stepsGiven) = (attributeForm.starts, attributeForm.ends, attributeForm.axes, nil)
        } else {
            starts = try io.requiredInput(1).integerList("Slice starts")
            ends = try io.requiredInput(2).integerList("Slice ends")
            axesGiven = try io.input(3)?.integerList("Slice axes")
            stepsGiven = try io.input(4)?.integerList("Slice steps")
        }
        let axes = try normalizedAxes(axesGiven ?? Array(0..<starts.count), rank: x.rank)
        let steps = stepsGiven ?? [Int](repeating: 1, count: starts.count)
        guard ends.count == starts.count, axes.count == starts.count, steps.count == starts.count else {
            throw InferenceError.invalidInput(
                "Slice starts, ends, axes and steps differ in length (\(starts.count), \(ends.count), \(axes.count), \(steps.count))")
        }
        let inputStrides = x.shape.strides
        var shape = x.shape
        var strides = inputStrides
        var offset = 0
        for (i, axis) in axes.enumerated() {
            let dim = x.shape[axis]
            var step = steps[i]
            guard step != 0 else { throw InferenceError.invalidInput("Slice step is 0 on axis \(axis)") }
            // A step longer than the axis takes at most one element, like a step of the axis length.
            step = Swift.max(Swift.min(step, Swift.max(dim, 1)), -Swift.max(dim, 1))
            var start = starts[i] < 0 ? starts[i] + dim : starts[i]
            var end = ends[i] < 0 ? ends[i] + dim : ends[i]
            let count: Int
            if step > 0 {
                start = Swift.min(Swift.max(start, 0), dim)
                end = Swift.min(Swift.max(end, 0), dim)
                count = end > start ? (end - start + step - 1) / step : 0
            } else {
                start = Swift.min(Swift.max(start, 0), dim - 1)
                end = Swift.min(Swift.max(end, -1), dim - 1)
                count = start > end ? (start - end - step - 1) / -step : 0
            }
            shape[axis] = count
            strides[axis] = inputStrides[axis] * step
            if count > 0 { offset += start * inputStrides[axis] }
        }
        let y = try io.output(0, x.elementType, shape)
        StridedCopy.copy(from: x, offset: offset, strides: strides, shape: shape, to: y)
    }
}

/// Expand: broadcasts the input (numpy rules, both ways) to the shape given as an int64 input. Any element type.
struct ExpandKernel: Kernel {
    init(_ node: NodeDefinition) throws {
        try node.expectInputs(2)
    }

    func run(_ io: NodeIO) throws {
        let x = try io.requiredInput(0)
        let target = try io.requiredInput(1).integerList("Expand shape")
        try target.validateShape()
        let shape = try Broadcast([x.shape, target]).resultShape
        let padded = [Int](repeating: 1, count: shape.count - x.rank) + x.shape
        let own = padded.strides
        let strides = (0..<shape.count).map { padded[$0] == 1 ? 0 : own[$0] }
        let y = try io.output(0, x.elementType, shape)
        StridedCopy.copy(from: x, offset: 0, strides: strides, shape: shape, to: y)
    }
}

/// Tile: repeats the input `repeats[i]` times along each axis. Any element type.
struct TileKernel: Kernel {
    init(_ node: NodeDefinition) throws {
        try node.expectInputs(2)
    }

    func run(_ io: NodeIO) throws {
        let x = try io.requiredInput(0)
        let repeats = try io.requiredInput(1).integerList("Tile repeats")
        guard repeats.count == x.rank else {
            throw InferenceError.invalidInput("Tile repeats \(repeats) do not match rank \(x.rank)")
        }
        try repeats.validateShape()
        var shape: [Int] = []
        for (dim, count) in zip(x.shape, repeats) {
            let (product, overflow) = dim.multipliedReportingOverflow(by: count)
            guard !overflow else { throw InferenceError.invalidInput("Tile of \(x.shape) by \(repeats) is too large") }
            shape.append(product)
        }
        try shape.validateShape()
        // Viewed as [r0, d0, r1, d1, ...]: the repeat axes step 0 through the input.
        let own = x.shape.strides
        var interleavedShape: [Int] = [], interleavedStrides: [Int] = []
        for axis in 0..<x.rank {
            interleavedShape += [repeats[axis], x.shape[axis]]
            interleavedStrides += [0, own[axis]]
        }
        let y = try io.output(0, x.elementType, shape)
        StridedCopy.copy(from: x, offset: 0, strides: interleavedStrides, shape: interleavedShape, to: y)
    }
}

/// Transpose by `perm` (default: reverse the axes). Any element type.
struct TransposeKernel: Kernel {
    let perm: [Int]?

    init(_ node: NodeDefinition) throws {
        try node.expectInputs(1)
        perm = try node.attributes.ints("perm")
        if let perm, Set(perm).count != perm.count || perm.contains(where: { $0 < 0 }) {
            throw InferenceError.invalidModel("\(node.label) perm \(perm) is not a permutation")
        }
    }

    /// The rank when `perm` only swaps the last two axes (what MatMul can read transposed), else nil.
    var swapsLastTwoAxes: Int? {
        guard let perm, perm.count >= 2 else { return nil }
        let rank = perm.count
        return perm == Array(0..<(rank - 2)) + [rank - 1, rank - 2] ? rank : nil
    }

    func run(_ io: NodeIO) throws {
        let x = try io.requiredInput(0)
        let perm = self.perm ?? Array((0..<x.rank).reversed())
        guard perm.count == x.rank, perm.allSatisfy({ $0 < x.rank }) else {
            throw InferenceError.invalidInput("Transpose perm \(perm) does not fit rank \(x.rank)")
        }
        let own = x.shape.strides
        let shape = perm.map { x.shape[$0] }
        let y = try io.output(0, x.elementType, shape)
        StridedCopy.copy(from: x, offset: 0, strides: perm.map { own[$0] }, shape: shape, to: y)
    }
}
