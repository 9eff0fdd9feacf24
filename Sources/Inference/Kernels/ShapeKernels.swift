/// Identity: the output is the input (a view, no copy).
struct IdentityKernel: Kernel {
    init(_ node: NodeDefinition) throws {
        try node.expectInputs(1)
    }

    /// Passes any kind of value on: a tensor, a sequence or an optional.
    func run(_ io: NodeIO) throws {
        guard let value = io.value(0) else { throw InferenceError.invalidInput("missing input 0") }
        try io.setOutput(0, value: value)
    }
}

/// Flatten: the input viewed as a matrix [prod(dims before axis), prod(dims from axis)].
struct FlattenKernel: Kernel {
    let axis: Int

    init(_ node: NodeDefinition) throws {
        try node.expectInputs(1)
        axis = try node.attributes.int("axis", default: 1)
    }

    func run(_ io: NodeIO) throws {
        let x = try io.requiredInput(0)
        // Flatten's axis ranges over [-r, r]: r itself means "all dims in the first factor".
        let axis = self.axis < 0 ? self.axis + x.rank : self.axis
        guard axis >= 0 && axis <= x.rank else {
            throw InferenceError.invalidInput("Flatten axis \(self.axis) is out of range for rank \(x.rank)")
        }
        try io.setOutput(0, x.reshaped([x.shape[..<axis].reduce(1, *), x.shape[axis...].reduce(1, *)]))
    }
}

/// Reshape: 0 copies the input dimension (unless `allowzero`), -1 is inferred. The shape is an int64 input from
/// opset 5, the `shape` attribute before.
struct ReshapeKernel: Kernel {
    let allowZero: Bool
    /// The `shape` attribute (opset < 5).
    let attributeShape: [Int]?

    init(_ node: NodeDefinition) throws {
        allowZero = try node.attributes.int("allowzero", default: 0) != 0
        if node.opsetVersion < 5 {
            try node.expectInputs(1)
            guard let shape = try node.attributes.ints("shape") else {
                throw InferenceError.invalidModel("\(node.label) has no 'shape' attribute (opset \(node.opsetVersion))")
            }
            attributeShape = shape
        } else {
            try node.expectInputs(2)
            attributeShape = nil
        }
    }

    func run(_ io: NodeIO) throws {
        let x = try io.requiredInput(0)
        let requested: [Int]
        if let attributeShape {
            requested = attributeShape
        } else {
            let shapeTensor = try io.requiredInput(1)
            guard shapeTensor.elementType == .int64, shapeTensor.rank == 1, let values = shapeTensor.integers() else {
                throw InferenceError.invalidInput("Reshape shape must be a 1-D int64 tensor")
            }
            requested = values
        }
        try io.setOutput(0, x.reshaped(try Self.resolve(requested, input: x.shape, allowZero: allowZero)))
    }

    /// Resolves 0 and -1 entries of `requested` against the input shape.
    static func resolve(_ requested: [Int], input: [Int], allowZero: Bool) throws -> [Int] {
        var shape = requested
        var inferred: Int?
        for (axis, dim) in requested.enumerated() {
            switch dim {
            case -1:
                guard inferred == nil else { throw InferenceError.invalidInput("Reshape shape has more than one -1") }
                inferred = axis
            case 0 where !allowZero:
                guard axis < input.count else {
                    throw InferenceError.invalidInput("Reshape shape \(requested) copies axis \(axis) of \(input)")
                }
                shape[axis] = input[axis]
            case ..<0:
                throw InferenceError.invalidInput("Reshape shape \(requested) has a negative dimension")
            default:
                break
            }
        }
        let total = input.elementCount
        if let inferred {
            var known = shape
            known.remove(at: inferred)
            try known.validateShape()
            let knownCount = known.elementCount
            guard knownCount > 0, total % knownCount == 0 else {
                throw InferenceError.invalidInput("cannot reshape \(input) to \(requested)")
            }
            shape[inferred] = total / knownCount
        }
        try shape.validateShape()
        guard shape.elementCount == total else {
            throw InferenceError.invalidInput("cannot reshape \(input) (\(total) elements) to \(requested)")
        }
        return shape
    }
}

/// Concat along `axis` of inputs that agree on every other dimension; any element type.
struct ConcatKernel: Kernel {
    let axis: Int

    init(_ node: NodeDefinition) throws {
        guard node.inputCount >= 1 else { throw InferenceError.invalidModel("\(node.label) needs at least one input") }
        // Before opset 4 the axis is optional, 1 by default.
        guard let axis = try node.attributes.int("axis") ?? (node.opsetVersion < 4 ? 1 : nil) else {
            throw InferenceError.invalidModel("\(node.label) has no axis attribute")
        }
        self.axis = axis
    }

    func run(_ io: NodeIO) throws {
        let inputs = try (0..<io.inputCount).map { try io.requiredInput($0) }
        try Self.concatenate(inputs, axis: axis, "Concat") { type, shape throws(InferenceError) in
            try io.output(0, type, shape, writingStrings: true)
        }
    }

    /// Joins `inputs` (at least one; one element type, equal shapes off `axis`) along `axis` into the tensor
    /// `output` gives for the result's type and shape: Concat's and ConcatFromSequence's loop.
    static func concatenate(
        _ inputs: [Tensor], axis: Int, _ op: String, output: (ElementType, [Int]) throws(InferenceError) -> Tensor
    ) throws(InferenceError) {
        let first = inputs[0]
        let axis = try normalizedAxis(axis, rank: first.rank)
        var shape = first.shape
        shape[axis] = 0
        for input in inputs {
            guard input.elementType == first.elementType, input.rank == first.rank,
                  (0..<first.rank).allSatisfy({ $0 == axis || input.shape[$0] == first.shape[$0] })
            else {
                throw InferenceError.invalidInput("\(op) inputs \(inputs.map(\.shape)) do not agree off axis \(axis)")
            }
            shape[axis] += input.shape[axis]
        }
        try shape.validateShape()
        let y = try output(first.elementType, shape)
        let outer = shape[..<axis].reduce(1, *)
        let outRow = shape[axis...].reduce(1, *)
        var column = 0
        for input in inputs {
            let row = input.shape[axis...].reduce(1, *)
            if first.elementType.hasRawBytes {
                let size = first.elementType.byteSize
                copyRows(
                    outer, bytes: row * size, from: input.storage.pointer, stride: row * size,
                    to: y.storage.pointer + column * size, stride: outRow * size)
            } else {
                for o in 0..<outer { input.copyElements(row, from: o * row, into: y, at: o * outRow + column) }
            }
            column += row
        }
    }

    /// Copies `count` rows of `bytes` bytes each from `source` (rows `sourceStride` bytes apart) to `target` (rows
    /// `targetStride` bytes apart). Rows of up to 32 bytes (a few feature columns joined to others, row by row) are
    /// moved as words: a `memcpy` call per row costs more than the copy.
    private static func copyRows(
        _ count: Int, bytes: Int, from source: UnsafeMutableRawPointer, stride sourceStride: Int,
        to target: UnsafeMutableRawPointer, stride targetStride: Int
    ) {
        func words<W>(_: W.Type, _ perRow: Int) {
            for r in 0..<count {
                let (from, to) = (source + r * sourceStride, target + r * targetStride)
                for w in 0..<perRow {
                    to.storeBytes(of: from.loadUnaligned(fromByteOffset: w * MemoryLayout<W>.size, as: W.self),
                                  toByteOffset: w * MemoryLayout<W>.size, as: W.self)
                }
            }
        }
        switch bytes {
        case 8, 16, 24, 32: words(UInt64.self, bytes / 8)
        case 4, 12, 20, 28: words(UInt32.self, bytes / 4)
        default: for r in 0..<count { (target + r * targetStride).copyMemory(from: source + r * sourceStride, byteCount: bytes) }
        }
    }
}

/// Constant: the value is folded into the model's constants when it loads; the node never runs.
struct ConstantKernel: Kernel {
    let value: Tensor

    init(_ node: NodeDefinition) throws {
        try node.expectInputs(0)
        let attributes = node.attributes
        if let tensor = try attributes.tensor("value") {
            value = tensor
        } else if attributes.has("value_float") {
            value = Tensor(float32: [try attributes.float("value_float", default: 0)], shape: [])
        } else if let floats = try attributes.floats("value_floats") {
            value = Tensor(float32: floats, shape: [floats.count])
        } else if let int = try attributes.int("value_int") {
            value = Tensor(int64: [Int64(int)], shape: [])
        } else if let ints = try attributes.ints("value_ints") {
            value = Tensor(int64: ints.map { Int64($0) }, shape: [ints.count])
        } else {
            throw InferenceError.unsupported(["\(node.label): only value, value_float(s) and value_int(s) are supported"])
        }
    }

    func run(_ io: NodeIO) throws {
        try io.setOutput(0, value)
    }
}
