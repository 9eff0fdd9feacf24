/// Sum (opset 8+): the element-wise sum of one or more float32 or float64 tensors, with multidirectional
/// broadcasting (skl2onnx builds one-vs-rest decision functions with it).
struct SumKernel: Kernel {
    init(_ node: NodeDefinition) throws {
        guard node.opsetVersion >= 8 else { throw InferenceError.unsupported(["Sum before opset 8 (no broadcasting)"]) }
        guard node.inputCount >= 1 else { throw InferenceError.invalidModel("\(node.label) needs at least one input") }
    }

    func run(_ io: NodeIO) throws {
        let inputs = try (0..<io.inputCount).map { try io.requiredInput($0) }
        let type = inputs[0].elementType
        guard inputs.allSatisfy({ $0.elementType == type }), type == .float32 || type == .float64 else {
            throw InferenceError.invalidInput("Sum takes float32 or float64 inputs of one type")
        }
        let shape = try Broadcast(inputs.map(\.shape)).resultShape
        let y = try io.output(0, type, shape)
        func accumulate<T: BinaryFloatingPoint>(_: T.Type) throws {
            let out = y.mutableElements(as: T.self)
            out.update(repeating: 0)
            for input in inputs {
                // Element i of the result reads element i of `out` before writing it: safe in place.
                try Broadcast([shape, input.shape]).map(UnsafeBufferPointer(out), input.elements(as: T.self), into: out) { $0 + $1 }
            }
        }
        if type == .float32 { try accumulate(Float.self) } else { try accumulate(Double.self) }
    }
}
