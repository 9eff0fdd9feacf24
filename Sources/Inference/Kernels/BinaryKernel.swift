import Foundation

/// The element-wise arithmetic operators with broadcasting (multidirectional; PRelu's slope unidirectionally onto X).
enum BinaryOperator: String, CaseIterable, Sendable {
    case add = "Add", sub = "Sub", mul = "Mul", div = "Div", mod = "Mod", prelu = "PRelu"

    var opType: String { rawValue }
}

/// Add, Sub, Mul, Div, Mod and PRelu on float32, float64, float16 (each operation rounded to float16, like numpy),
/// and every integer type (8 to 64 bits, signed and unsigned) of broadcastable
/// shapes (PRelu: slope broadcast onto X, and before opset 7 a [C] slope per channel of [N, C, ...]).
///
/// A Relu, Sigmoid, Tanh or Gelu reading only this node's output may be fused (`ActivationFusing`, e.g. a residual
/// Add and the Relu after it): it is applied to the float32 output in place.
///
/// Before opset 7 the arithmetic operators broadcast only with `broadcast` = 1, B aligned at `axis` of A
/// (`LegacyBroadcast`). Mod follows the divisor's sign (Python's `%`) on integers, or C's `fmod` with `fmod` = 1,
/// which floats require. Integer division or modulo by zero is refused as invalid input.
struct BinaryKernel: ActivationFusing {
    let op: BinaryOperator
    var activation: Activation?
    let legacy: LegacyBroadcast?
    /// Mod: truncated (C `fmod`) rather than floored remainder.
    let truncatedModulo: Bool
    /// PRelu before opset 7: a 1-D slope of several values is per channel (axis 1).
    let channelSlope: Bool

    init(_ op: BinaryOperator, _ node: NodeDefinition) throws {
        try node.expectInputs(2)
        self.op = op
        legacy = op == .prelu ? nil : try LegacyBroadcast(node)
        truncatedModulo = try op == .mod && node.attributes.int("fmod", default: 0) != 0
        channelSlope = op == .prelu && node.opsetVersion < LegacyOpsets.modern
    }

    func run(_ io: NodeIO) throws {
        let (y, activated) = try compute(io)
        guard let activation, !activated else { return }
        guard y.elementType == .float32 else {
            throw InferenceError.invalidInput("\(activation.opType) input 0 is \(y.elementType); it computes on float32 only")
        }
        activation.apply(y.mutableElements(as: Float.self))
    }

    /// Computes output 0 and returns it, and whether the fused activation is already applied (a Relu in the float32
    /// loops).
    private func compute(_ io: NodeIO) throws -> (Tensor, activated: Bool) {
        let a = try io.requiredInput(0)
        var b = try io.requiredInput(1)
        guard a.elementType == b.elementType else {
            throw InferenceError.invalidInput("\(op.opType) inputs differ in type: \(a.elementType) and \(b.elementType)")
        }
        if let legacy { b = try legacy.align(a, b, op.opType) }
        if channelSlope && b.rank == 1 && b.count > 1 && a.rank >= 2 {
            b = b.reshaped(b.shape + [Int](repeating: 1, count: a.rank - 2))
        }
        if a.elementType == .float32, op != .mod, let y = try runContiguousFloats(a, b, io) {
            return (y, activation == .relu)
        }
        let broadcast = try Broadcast([a.shape, b.shape])
        if op == .prelu && broadcast.resultShape != a.shape {
            throw InferenceError.invalidInput("PRelu slope of shape \(b.shape) does not broadcast onto X \(a.shape)")
        }
        if op == .mod && !truncatedModulo && [.float32, .float64, .float16].contains(a.elementType) {
            throw InferenceError.invalidInput("Mod of \(a.elementType) needs fmod = 1")
        }
        let y = try io.output(0, a.elementType, broadcast.resultShape)
        switch a.elementType {
        case .float32: apply(Float.self, a, b, y, broadcast)
        case .float64: apply(Double.self, a, b, y, broadcast)
        case .float16: apply(Float16.self, a, b, y, broadcast)
        case .int32: try applyInteger(Int32.self, a, b, y, broadcast)
        case .int8: try applyInteger(Int8.self, a, b, y, broadcast)
        case .uint8: try applyInteger(UInt8.self, a, b, y, broadcast)
        case .int64: try applyInteger(Int64.self, a, b, y, broadcast)
        case .int16: try applyInteger(Int16.self, a, b, y, broadcast)
        case .uint16: try applyInteger(UInt16.self, a, b, y, broadcast)
        case .uint32: try applyInteger(UInt32.self, a, b, y, broadcast)
        case .uint64: try applyInteger(UInt64.self, a, b, y, broadcast)
        default:
            throw InferenceError.invalidInput("\(op.opType) does not take \(a.elementType)")
        }
        return (y, false)
    }

    /// The common float32 cases without a general broadcast: equal shapes, or one side a scalar or a row that
    /// repeats along the other's leading axes (a bias). A fused Relu is applied in the same loop. Returns the output,
    /// or nil for anything else.
    private func runContiguousFloats(_ a: Tensor, _ b: Tensor, _ io: NodeIO) throws -> Tensor? {
        // `row` repeats along `full`: its shape, leading 1s dropped, ends `full`'s shape.
        func repeats(_ row: Tensor, along full: Tensor) -> Bool {
            let shape = row.shape.drop { $0 == 1 }
            return row.rank <= full.rank && full.shape.suffix(shape.count).elementsEqual(shape)
        }
        let rowIsB: Bool
        if a.shape == b.shape || repeats(b, along: a) {
            rowIsB = true
        } else if op != .prelu && repeats(a, along: b) {
            rowIsB = false
        } else {
            return nil
        }
        let (full, row) = rowIsB ? (a, b) : (b, a)
        let y = try io.output(0, .float32, full.shape)
        let (count, length) = (full.count, row.count)
        guard count > 0 else { return y }
        let pf = full.elements(as: Float.self).baseAddress!, pr = row.elements(as: Float.self).baseAddress!
        let py = y.mutableElements(as: Float.self).baseAddress!
        let op = self.op, relu = activation == .relu
        @inline(__always) func combine(_ f: FloatVector, _ r: FloatVector) -> FloatVector {
            let value: FloatVector = switch op {
            case .add: f + r
            case .sub: rowIsB ? f - r : r - f
            case .mul: f * r
            case .div: rowIsB ? f / r : r / f
            case .prelu: f.replacing(with: f * r, where: f .< 0)
            case .mod: f  // not reached: Mod takes the general path
            }
            return relu ? value.replacing(with: 0, where: value .< 0) : value
        }
        if length == count {
            VectorLoop.forEachParallelSpan(count) { s, n in VectorLoop.map(pf + s, pr + s, py + s, n, combine) }
        } else if length == 1 {
            let r = FloatVector(repeating: pr[0])
            VectorLoop.forEachParallelSpan(count) { s, n in VectorLoop.map(pf + s, py + s, n) { combine($0, r) } }
        } else {
            let rows = count / length
            Parallelism.forEachChunk(rows, grain: Swift.max(1, 16384 / length)) { _, range in
                for i in range {
                    VectorLoop.map(pf + i * length, pr, py + i * length, length, combine)
                }
            }
        }
        return y
    }

    private func apply<T: BinaryFloatingPoint>(_: T.Type, _ a: Tensor, _ b: Tensor, _ y: Tensor, _ broadcast: Broadcast) {
        let (pa, pb, py) = (a.elements(as: T.self), b.elements(as: T.self), y.mutableElements(as: T.self))
        switch op {
        case .add: broadcast.map(pa, pb, into: py) { $0 + $1 }
        case .sub: broadcast.map(pa, pb, into: py) { $0 - $1 }
        case .mul: broadcast.map(pa, pb, into: py) { $0 * $1 }
        case .div: broadcast.map(pa, pb, into: py) { $0 / $1 }
        case .mod: broadcast.map(pa, pb, into: py) { T(Foundation.fmod(Double($0), Double($1))) }
        case .prelu: broadcast.map(pa, pb, into: py) { $0 < 0 ? $0 * $1 : $0 }
        }
    }

    private func applyInteger<T: FixedWidthInteger>(
        _: T.Type, _ a: Tensor, _ b: Tensor, _ y: Tensor, _ broadcast: Broadcast
    ) throws {
        let (pa, pb, py) = (a.elements(as: T.self), b.elements(as: T.self), y.mutableElements(as: T.self))
        switch op {
        case .add: broadcast.map(pa, pb, into: py) { $0 &+ $1 }
        case .sub: broadcast.map(pa, pb, into: py) { $0 &- $1 }
        case .mul: broadcast.map(pa, pb, into: py) { $0 &* $1 }
        case .div:
            guard !pb.contains(0) else { throw InferenceError.invalidInput("integer division by zero") }
            // Truncating division like C; the one overflowing case (min / -1) wraps.
            broadcast.map(pa, pb, into: py) { $0.dividedReportingOverflow(by: $1).partialValue }
        case .mod:
            guard !pb.contains(0) else { throw InferenceError.invalidInput("integer modulo by zero") }
            if truncatedModulo {
                broadcast.map(pa, pb, into: py) { $0.remainderReportingOverflow(dividingBy: $1).partialValue }
            } else {
                broadcast.map(pa, pb, into: py) { x, d in
                    let r = x.remainderReportingOverflow(dividingBy: d).partialValue
                    return r != 0 && (r < 0) != (d < 0) ? r &+ d : r
                }
            }
        case .prelu: broadcast.map(pa, pb, into: py) { $0 < 0 ? $0 &* $1 : $0 }
        }
    }
}
