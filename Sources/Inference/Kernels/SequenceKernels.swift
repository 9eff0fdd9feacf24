/// SequenceEmpty: an empty sequence of the `dtype` attribute's element type (float32 by default).
struct SequenceEmptyKernel: Kernel {
    let elementType: ElementType

    init(_ node: NodeDefinition) throws {
        try node.expectInputs(0)
        let dtype = try node.attributes.int("dtype", default: Int(ElementType.float32.rawValue))
        guard let type = ElementType(rawValue: Int32(clamping: dtype)) else {
            throw InferenceError.unsupported(["SequenceEmpty of ONNX data type \(dtype)"])
        }
        elementType = type
    }

    func run(_ io: NodeIO) throws {
        try io.setOutput(0, value: .sequence(try TensorSequence(elementType: elementType)))
    }
}

/// SequenceConstruct: a sequence of the node's input tensors (one element type, any shapes), shared without copies.
struct SequenceConstructKernel: Kernel {
    init(_ node: NodeDefinition) throws {
        guard node.inputCount >= 1 else { throw InferenceError.invalidModel("\(node.label) needs at least one input") }
    }

    func run(_ io: NodeIO) throws {
        let tensors = try (0..<io.inputCount).map { try io.requiredInput($0) }
        try io.setOutput(0, value: .sequence(try TensorSequence(elementType: tensors[0].elementType, tensors: tensors)))
    }
}

/// SequenceAt: the tensor at a position (int32 or int64 scalar; negative counts from the end); no copy.
struct SequenceAtKernel: Kernel {
    init(_ node: NodeDefinition) throws {
        try node.expectInputs(2)
    }

    func run(_ io: NodeIO) throws {
        let sequence = try io.sequence(0)
        let position = try io.requiredInput(1).singleInteger("SequenceAt position")
        try io.setOutput(0, sequence.tensors[try sequence.index(position)])
    }
}

/// SequenceInsert: the sequence with a tensor of its element type inserted before a position (default: appended;
/// the position may be the length).
struct SequenceInsertKernel: Kernel {
    init(_ node: NodeDefinition) throws {
        try node.expectInputs(2, 3)
    }

    func run(_ io: NodeIO) throws {
        var sequence = try io.sequence(0)
        let tensor = try io.requiredInput(1)
        guard tensor.elementType == sequence.elementType else {
            throw InferenceError.invalidInput(
                "SequenceInsert cannot put a \(tensor.elementType) tensor in a sequence of \(sequence.elementType)")
        }
        let position = try io.input(2).map { try sequence.index($0.singleInteger("SequenceInsert position"), allowingEnd: true) }
        sequence.tensors.insert(tensor, at: position ?? sequence.tensors.count)
        try io.setOutput(0, value: .sequence(sequence))
    }
}

/// SequenceErase: the sequence without the tensor at a position (default: the last).
struct SequenceEraseKernel: Kernel {
    init(_ node: NodeDefinition) throws {
        try node.expectInputs(1, 2)
    }

    func run(_ io: NodeIO) throws {
        var sequence = try io.sequence(0)
        let position = try io.input(1)?.singleInteger("SequenceErase position") ?? -1
        sequence.tensors.remove(at: try sequence.index(position))
        try io.setOutput(0, value: .sequence(sequence))
    }
}

/// SequenceLength: the number of tensors in the sequence, as an int64 scalar.
struct SequenceLengthKernel: Kernel {
    init(_ node: NodeDefinition) throws {
        try node.expectInputs(1)
    }

    func run(_ io: NodeIO) throws {
        let count = try io.sequence(0).tensors.count
        try io.output(0, .int64, []).mutableElements(as: Int64.self)[0] = Int64(count)
    }
}

/// ConcatFromSequence: the sequence's tensors joined along `axis`, or stacked along a new axis there with
/// `new_axis` 1 (then `axis` may be the rank, appending it). An empty sequence is an error (no element type shape).
struct ConcatFromSequenceKernel: Kernel {
    let axis: Int
    let newAxis: Bool

    init(_ node: NodeDefinition) throws {
        try node.expectInputs(1)
        guard let axis = try node.attributes.int("axis") else {
            throw InferenceError.invalidModel("\(node.label) has no axis attribute")
        }
        self.axis = axis
        let newAxis = try node.attributes.int("new_axis", default: 0)
        guard newAxis == 0 || newAxis == 1 else {
            throw InferenceError.invalidModel("\(node.label): new_axis must be 0 or 1, is \(newAxis)")
        }
        self.newAxis = newAxis == 1
    }

    func run(_ io: NodeIO) throws {
        var tensors = try io.sequence(0).tensors
        guard let first = tensors.first else {
            throw InferenceError.invalidInput("ConcatFromSequence of an empty sequence")
        }
        var axis = self.axis
        if newAxis {
            // Each tensor gains a dimension of 1 at the axis; joining along it stacks them.
            axis = try normalizedAxis(axis, rank: first.rank + 1)
            tensors = tensors.map { tensor in
                var shape = tensor.shape
                shape.insert(1, at: Swift.min(axis, shape.count))
                return tensor.reshaped(shape)
            }
        }
        try ConcatKernel.concatenate(tensors, axis: axis, "ConcatFromSequence") { type, shape throws(InferenceError) in
            try io.output(0, type, shape)
        }
    }
}

/// SplitToSequence: the input cut along `axis` into a sequence. `split` (optional input) is one size — equal parts,
/// the last one smaller when the axis does not divide — or a list of sizes summing to the axis; without it the
/// parts are of size 1, and `keepdims` 0 drops the axis from each.
struct SplitToSequenceKernel: Kernel {
    let axis: Int
    let keepDimensions: Bool

    init(_ node: NodeDefinition) throws {
        try node.expectInputs(1, 2)
        axis = try node.attributes.int("axis", default: 0)
        keepDimensions = try node.attributes.int("keepdims", default: 1) != 0
    }

    func run(_ io: NodeIO) throws {
        let x = try io.requiredInput(0)
        let axis = try normalizedAxis(self.axis, rank: x.rank)
        let length = x.shape[axis]
        let sizes: [Int]
        let split = io.input(1)
        if let split, split.rank == 0 {
            let size = try split.singleInteger("SplitToSequence split")
            guard size > 0 else { throw InferenceError.invalidInput("SplitToSequence split \(size) must be positive") }
            sizes = stride(from: 0, to: length, by: size).map { Swift.min(size, length - $0) }
        } else if let split {
            sizes = try split.integerList("SplitToSequence split")
            guard sizes.allSatisfy({ $0 >= 0 }), sizes.reduce(0, +) == length else {
                throw InferenceError.invalidInput("SplitToSequence sizes \(sizes) do not cut axis \(axis) of \(x.shape)")
            }
        } else {
            sizes = [Int](repeating: 1, count: length)
        }
        var parts: [Tensor] = []
        try SplitKernel.cut(x, axis: axis, sizes: sizes) { _, shape throws(InferenceError) in
            let part = try io.sequenceElement(x.elementType, shape)
            parts.append(part)
            return part
        }
        if split == nil && !keepDimensions {
            parts = parts.map { part in
                var shape = part.shape
                shape.remove(at: axis)
                return part.reshaped(shape)
            }
        }
        try io.setOutput(0, value: .sequence(try TensorSequence(elementType: x.elementType, tensors: parts)))
    }
}
