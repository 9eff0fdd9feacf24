/// The bitwise operators on two integer tensors.
enum BitwiseOperator: String, CaseIterable, Sendable {
    case and = "BitwiseAnd", or = "BitwiseOr", xor = "BitwiseXor"
}

/// BitwiseAnd, BitwiseOr, BitwiseXor (broadcasting) and BitwiseNot on every integer type (bits are bits: each width is
/// computed as the unsigned type of its size).
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
        guard a.elementType.isInteger else {
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
        switch a.elementType.byteSize {
        case 1: apply(UInt8.self)
        case 2: apply(UInt16.self)
        case 4: apply(UInt32.self)
        default: apply(UInt64.self)
        }
    }
}

/// BitShift on the unsigned types (uint8, uint16, uint32, uint64), `direction` LEFT or RIGHT, broadcasting; a shift by
/// the type's width or more gives 0.
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
        guard x.elementType == shift.elementType, x.elementType.isUnsignedInteger else {
            throw InferenceError.invalidInput(
                "BitShift takes two tensors of one unsigned integer type, got \(x.elementType) and \(shift.elementType)")
        }
        let broadcast = try Broadcast([x.shape, shift.shape])
        let y = try io.output(0, x.elementType, broadcast.resultShape)
        let left = self.left
        func apply<T: UnsignedInteger & FixedWidthInteger>(_: T.Type) {
            broadcast.map(x.elements(as: T.self), shift.elements(as: T.self), into: y.mutableElements(as: T.self)) {
                $1 >= T.bitWidth ? 0 : left ? $0 << $1 : $0 >> $1
            }
        }
        switch x.elementType {
        case .uint8: apply(UInt8.self)
        case .uint16: apply(UInt16.self)
        case .uint32: apply(UInt32.self)
        default: apply(UInt64.self)
        }
    }
}
