/// CastLike: Cast to the element type of the second input (opset 15).
struct CastLikeKernel: Kernel {
    init(_ node: NodeDefinition) throws {
        try node.expectInputs(2)
        // `saturate` (opset 19) only concerns float8 targets, which this runtime does not have.
        _ = try node.attributes.int("saturate")
    }

    func run(_ io: NodeIO) throws {
        let x = try io.requiredInput(0)
        let target = try io.requiredInput(1).elementType
        if x.elementType == target {
            try io.setOutput(0, x)
            return
        }
        let y = try io.output(0, target, x.shape, writingStrings: true)
        try CastKernel.convert(x, to: y)
    }
}

/// Size: the input's element count as an int64 scalar.
struct SizeKernel: Kernel {
    init(_ node: NodeDefinition) throws {
        try node.expectInputs(1)
    }

    func run(_ io: NodeIO) throws {
        let x = try io.requiredInput(0)
        let y = try io.output(0, .int64, [])
        y.mutableElements(as: Int64.self)[0] = Int64(x.count)
    }
}

/// ConstantOfShape: a tensor of the shape given as an int64 input, filled with the one-element `value` attribute
/// (default float32 0).
struct ConstantOfShapeKernel: Kernel {
    let value: Tensor

    init(_ node: NodeDefinition) throws {
        try node.expectInputs(1)
        let value = try node.attributes.tensor("value") ?? Tensor(float32: [0], shape: [1])
        guard value.count == 1 else {
            throw InferenceError.invalidModel("\(node.label) value must hold one element, has \(value.count)")
        }
        self.value = value
    }

    func run(_ io: NodeIO) throws {
        let shape = try io.requiredInput(0).integerList("ConstantOfShape shape")
        try shape.validateShape()
        let y = try io.output(0, value.elementType, shape)
        StridedCopy.copy(from: value, offset: 0, strides: [Int](repeating: 0, count: shape.count), shape: shape, to: y)
    }
}

/// The logical operators on bool tensors.
enum LogicalOperator: String, CaseIterable, Sendable {
    case and = "And", or = "Or", xor = "Xor"
}

/// And, Or, Xor with multidirectional broadcasting on bool tensors.
struct LogicalKernel: Kernel {
    let op: LogicalOperator
    let legacy: LegacyBroadcast?

    init(_ op: LogicalOperator, _ node: NodeDefinition) throws {
        try node.expectInputs(2)
        self.op = op
        legacy = try LegacyBroadcast(node)
    }

    func run(_ io: NodeIO) throws {
        let a = try io.requiredInput(0)
        var b = try io.requiredInput(1)
        if let legacy { b = try legacy.align(a, b, op.rawValue) }
        guard a.elementType == .bool, b.elementType == .bool else {
            throw InferenceError.invalidInput("\(op.rawValue) takes bool, got \(a.elementType) and \(b.elementType)")
        }
        let broadcast = try Broadcast([a.shape, b.shape])
        let y = try io.output(0, .bool, broadcast.resultShape)
        guard y.count > 0 else { return }
        let (pa, pb, py) = (a.elements(as: UInt8.self), b.elements(as: UInt8.self), y.mutableElements(as: UInt8.self))
        switch op {
        case .and: broadcast.map(pa, pb, into: py) { $0 != 0 && $1 != 0 ? 1 : 0 }
        case .or: broadcast.map(pa, pb, into: py) { $0 != 0 || $1 != 0 ? 1 : 0 }
        case .xor: broadcast.map(pa, pb, into: py) { ($0 != 0) != ($1 != 0) ? 1 : 0 }
        }
    }
}

/// Not on a bool tensor.
struct NotKernel: Kernel {
    init(_ node: NodeDefinition) throws {
        try node.expectInputs(1)
    }

    func run(_ io: NodeIO) throws {
        let x = try io.requiredInput(0)
        guard x.elementType == .bool else { throw InferenceError.invalidInput("Not takes bool, got \(x.elementType)") }
        let y = try io.output(0, .bool, x.shape)
        let count = x.count
        guard count > 0 else { return }
        let src = x.elements(as: UInt8.self).baseAddress!, dst = y.mutableElements(as: UInt8.self).baseAddress!
        for i in 0..<count { dst[i] = src[i] == 0 ? 1 : 0 }
    }
}
