/// The element-wise operators over one or more inputs.
enum VariadicOperator: String, CaseIterable, Sendable {
    case sum = "Sum", mean = "Mean", max = "Max", min = "Min"

    var opType: String { rawValue }
}

/// Sum, Mean, Max and Min of one or more tensors of one type, broadcast together (opset ≥ 8; before, every input
/// must have the same shape). Sum and Mean on float32, float64 and float16; Max and Min also on every integer type.
/// Max and Min propagate NaN.
struct VariadicKernel: Kernel {
    let op: VariadicOperator
    /// Multidirectional broadcasting (opset ≥ 8); before, equal shapes are required.
    let broadcasts: Bool

    init(_ op: VariadicOperator, _ node: NodeDefinition) throws {
        guard node.inputCount >= 1 else { throw InferenceError.invalidModel("\(node.label) needs at least one input") }
        self.op = op
        broadcasts = node.opsetVersion >= 8
    }

    func run(_ io: NodeIO) throws {
        let inputs = try (0..<io.inputCount).map { try io.requiredInput($0) }
        let type = inputs[0].elementType
        guard inputs.allSatisfy({ $0.elementType == type }) else {
            throw InferenceError.invalidInput("\(op.opType) inputs must share one type, got \(inputs.map(\.elementType))")
        }
        if !broadcasts, let other = inputs.first(where: { $0.shape != inputs[0].shape }) {
            throw InferenceError.invalidInput(
                "\(op.opType) before opset 8 needs equal shapes, got \(inputs[0].shape) and \(other.shape)")
        }
        let shape = try Broadcast(inputs.map(\.shape)).resultShape
        let y = try io.output(0, type, shape)
        guard y.count > 0 else { return }
        let arithmetic = op == .sum || op == .mean
        switch type {
        case .float32: try combine(Float.self, inputs, y)
        case .float64: try combine(Double.self, inputs, y)
        case .float16: try combine(Float16.self, inputs, y)
        case .int8 where !arithmetic: try combine(Int8.self, inputs, y)
        case .uint8 where !arithmetic: try combine(UInt8.self, inputs, y)
        case .int32 where !arithmetic: try combine(Int32.self, inputs, y)
        case .int64 where !arithmetic: try combine(Int64.self, inputs, y)
        case .int16 where !arithmetic: try combine(Int16.self, inputs, y)
        case .uint16 where !arithmetic: try combine(UInt16.self, inputs, y)
        case .uint32 where !arithmetic: try combine(UInt32.self, inputs, y)
        case .uint64 where !arithmetic: try combine(UInt64.self, inputs, y)
        default: throw InferenceError.invalidInput("\(op.opType) does not take \(type)")
        }
    }

    private func combine<T: Comparable & _ReduceArithmetic>(_: T.Type, _ inputs: [Tensor], _ y: Tensor) throws {
        let out = y.mutableElements(as: T.self)
        for (position, input) in inputs.enumerated() {
            // Element i of the result reads element i of `out` before writing it: safe in place. The first input
            // overwrites whatever the reused output held.
            let broadcast = try Broadcast([y.shape, input.shape])
            let values = input.elements(as: T.self)
            if position == 0 {
                broadcast.map(UnsafeBufferPointer(out), values, into: out) { $1 }
                continue
            }
            switch op {
            case .sum, .mean: broadcast.map(UnsafeBufferPointer(out), values, into: out) { T.add($0, $1) }
            case .max: broadcast.map(UnsafeBufferPointer(out), values, into: out) { T.larger($0, $1) }
            case .min: broadcast.map(UnsafeBufferPointer(out), values, into: out) { T.smaller($0, $1) }
            }
        }
        if op == .mean {
            for i in out.indices { out[i] = T.divide(out[i], inputs.count) }
        }
    }
}
