import Foundation

/// Range(start, limit, delta): the 1-D sequence start, start + delta, … up to (excluding) limit, with
/// max(ceil((limit − start) / delta), 0) elements; float32, float64, int32, int64 scalars of one type. (Opset 27's
/// float16 inputs and `stash_type` are refused at load: the type by `ElementTypeFlow`, the attribute as unread.)
struct RangeKernel: Kernel {
    init(_ node: NodeDefinition) throws {
        try node.expectInputs(3)
    }

    func run(_ io: NodeIO) throws {
        let inputs = try (0..<3).map { try io.requiredInput($0) }
        let type = inputs[0].elementType
        guard inputs.allSatisfy({ $0.elementType == type && $0.count == 1 }) else {
            throw InferenceError.invalidInput("Range takes three scalars of one type")
        }
        switch type {
        case .float32: try fill(Float.self, inputs, io)
        case .float64: try fill(Double.self, inputs, io)
        case .int32: try fill(Int32.self, inputs, io)
        case .int64: try fill(Int64.self, inputs, io)
        default: throw InferenceError.invalidInput("Range does not take \(type)")
        }
    }

    private func fill<T: _ReduceArithmetic>(_: T.Type, _ inputs: [Tensor], _ io: NodeIO) throws {
        let (start, limit, delta) = (inputs[0].elements(as: T.self)[0], inputs[1].elements(as: T.self)[0],
                                     inputs[2].elements(as: T.self)[0])
        guard delta != 0 else { throw InferenceError.invalidInput("Range delta is 0") }
        let steps = Foundation.ceil((limit.asDouble - start.asDouble) / delta.asDouble)
        guard !steps.isNaN, steps < Double([Int].maximumShapeVolume) else {
            throw InferenceError.invalidInput("Range from \(start) to \(limit) by \(delta) is too long")
        }
        let count = Swift.max(Int(steps), 0)
        let y = try io.output(0, inputs[0].elementType, [count])
        let out = y.mutableElements(as: T.self)
        // start + i · delta, as the specification writes it (no accumulated rounding for floats).
        for i in 0..<count { out[i] = T.add(start, T.multiply(T(exactly: i)!, delta)) }
    }
}
