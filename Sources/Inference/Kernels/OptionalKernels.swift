/// Optional: an optional holding its input (the input itself: a tensor or sequence), or, without input, one holding
/// nothing (of the `type` attribute's type, which the runtime does not need).
struct OptionalKernel: Kernel {
    init(_ node: NodeDefinition) throws {
        try node.expectInputs(0, 1)
        let hasType = node.attributes.has("type")
        if node.inputCount == 0 && !hasType {
            throw InferenceError.invalidModel("\(node.label) has neither an input nor a type attribute")
        }
    }

    func run(_ io: NodeIO) throws {
        try io.setOutput(0, value: io.value(0) ?? .noElement)
    }
}

/// OptionalHasElement: whether the optional (or, from opset 18, a tensor or sequence) holds an element, as a bool
/// scalar; an absent input holds none.
struct OptionalHasElementKernel: Kernel {
    init(_ node: NodeDefinition) throws {
        try node.expectInputs(0, 1)
    }

    func run(_ io: NodeIO) throws {
        let present: Bool
        switch io.value(0) {
        case nil, .noElement?: present = false
        case .tensor?, .sequence?: present = true
        }
        try io.output(0, .bool, []).mutableElements(as: UInt8.self)[0] = present ? 1 : 0
    }
}

/// OptionalGetElement: the element an optional holds (from opset 18 a tensor or sequence passes through); an
/// optional holding nothing is an error.
struct OptionalGetElementKernel: Kernel {
    init(_ node: NodeDefinition) throws {
        try node.expectInputs(1)
    }

    func run(_ io: NodeIO) throws {
        switch io.value(0) {
        case let value?:
            if case .noElement = value { fallthrough }
            try io.setOutput(0, value: value)
        case nil:
            throw InferenceError.invalidInput("OptionalGetElement of an optional that holds no element")
        }
    }
}
