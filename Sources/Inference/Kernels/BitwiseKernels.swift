/// The bitwise operators on two integer tensors.
enum BitwiseOperator: String, CaseIterable, Sendable {
    case and = "BitwiseAnd", or = "BitwiseOr", xor = "BitwiseXor"
}

/// BitwiseAnd, BitwiseOr, BitwiseXor (broadcasting) and BitwiseNot on int8, uint8, int32 and int64.
struct BitwiseKernel: Kernel {
    /// nil: BitwiseNot.
    let op: BitwiseOperator?

    init(_ op: BitwiseOperator?, _ node: NodeDefinition) throws {
        try node.expectInputs(op == nil ? 1 : 2)
        self.op = op
    }

    func run(_ io: NodeIO) throws {
        let a = try io.requiredInput(0)
        let name = op?.rawValue ?? "BitwiseNot"
        guard [.int8, .uint8, .int32, .int64].contains(a.elementType) else {
            throw InferenceError.invalidInput("\(name) does not take \(a.elementType)")
        }
        guard let op else {
            let y = try io.output(0, a.elementType, a.shape)
            let (src, dst) = (a.bytes, UnsafeMutableRawBufferPointer(start: y.storage.pointer, count: y.byteCount))
            for i in 0..<src.count { dst[i] = ~src[i] }
            return
        }
        let b = try io.requiredInput(1)
        guard b.elementType == a.elementType else {
            throw InferenceError.invalidInput("\(name) inputs differ in type: \(a.elementType) and \(b.elementType)")
        }
        let broadcast = try Broadcast([a.shape, b.shape])
        let y = try io.output(0, a.elementType, broadcast.resultShape)
        func apply<T: FixedWidthInteger>(_: T.Type) {
            let (pa, pb, py) = (a.elements(as: T.self), b.elements(as: T.self), y.mutableElements(as: T.self))
            switch op {
            case .and: broadcast.map(pa, pb, into: py) { $0 & $1 }
            case .or: broadcast.map(pa, pb, into: py) { $0 | $1 }
            case .xor: broadcast.map(pa, pb, into: py) { $0 ^ $1 }
            }
        }
        switch a.elementType {
        case .int8: apply(Int8.self)
        case .uint8: apply(UInt8.self)
        case .int32: apply(Int32.self)
        default: apply(Int64.self)
        }
    }
}

/// BitShift on uint8 (the one unsigned type this runtime carries), `direction` LEFT or RIGHT, broadcasting; shifts
/// of 8 or more give 0.
struct BitShiftKernel: Kernel {
    let left: Bool

    init(_ node: NodeDefinition) throws {
        try node.expectInputs(2)
        let direction = try node.attributes.string("direction") ?? ""
        guard direction == "LEFT" || direction == "RIGHT" else {
            throw InferenceError.invalidModel("\(node.label): direction '\(direction)' (LEFT or RIGHT)")
        }
        left = direction == "LEFT"
    }

    func run(_ io: NodeIO) throws {
        let x = try io.requiredInput(0), shift = try io.requiredInput(1)
        guard x.elementType == .uint8, shift.elementType == .uint8 else {
            throw InferenceError.invalidInput("BitShift takes uint8, got \(x.elementType) and \(shift.elementType)")
        }
        let broadcast = try Broadcast([x.shape, shift.shape])
        let y = try io.output(0, .uint8, broadcast.resultShape)
        let left = self.left
        broadcast.map(x.elements(as: UInt8.self), shift.elements(as: UInt8.self), into: y.mutableElements(as: UInt8.self)) {
            $1 >= 8 ? 0 : left ? $0 << $1 : $0 >> $1
        }
    }
}
