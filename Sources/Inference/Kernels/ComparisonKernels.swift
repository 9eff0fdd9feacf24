/// The comparison operators: broadcasting, bool output.
enum ComparisonOperator: String, CaseIterable, Sendable {
    case equal = "Equal", less = "Less", greater = "Greater", lessOrEqual = "LessOrEqual"
    case greaterOrEqual = "GreaterOrEqual"

    var opType: String { rawValue }
}

/// Equal, Less, Greater, LessOrEqual, GreaterOrEqual on float32, float64 and every integer type (and bool and
/// string for Equal) with multidirectional broadcasting (before opset 7: `LegacyBroadcast`); the output is bool (one byte, 0 or 1).
struct ComparisonKernel: Kernel {
    let op: ComparisonOperator
    let legacy: LegacyBroadcast?

    init(_ op: ComparisonOperator, _ node: NodeDefinition) throws {
        try node.expectInputs(2)
        self.op = op
        legacy = try LegacyBroadcast(node)
    }

    func run(_ io: NodeIO) throws {
        let a = try io.requiredInput(0)
        var b = try io.requiredInput(1)
        if let legacy { b = try legacy.align(a, b, op.opType) }
        guard a.elementType == b.elementType else {
            throw InferenceError.invalidInput("\(op.opType) inputs differ in type: \(a.elementType) and \(b.elementType)")
        }
        let broadcast = try Broadcast([a.shape, b.shape])
        let y = try io.output(0, .bool, broadcast.resultShape)
        guard y.count > 0 else { return }
        switch a.elementType {
        case .float32: compare(Float.self, a, b, y, broadcast)
        case .float64: compare(Double.self, a, b, y, broadcast)
        case .int8: compare(Int8.self, a, b, y, broadcast)
        case .int32: compare(Int32.self, a, b, y, broadcast)
        case .int64: compare(Int64.self, a, b, y, broadcast)
        case .uint8: compare(UInt8.self, a, b, y, broadcast)
        case .int16: compare(Int16.self, a, b, y, broadcast)
        case .uint16: compare(UInt16.self, a, b, y, broadcast)
        case .uint32: compare(UInt32.self, a, b, y, broadcast)
        case .uint64: compare(UInt64.self, a, b, y, broadcast)
        case .string where op == .equal:
            broadcast.map(a.strings, b.strings, into: y.mutableElements(as: UInt8.self)) { $0 == $1 ? 1 : 0 }
        case .bool where op == .equal:
            broadcast.map(a.elements(as: UInt8.self), b.elements(as: UInt8.self), into: y.mutableElements(as: UInt8.self)) {
                ($0 != 0) == ($1 != 0) ? 1 : 0
            }
        default:
            throw InferenceError.invalidInput("\(op.opType) does not take \(a.elementType)")
        }
    }

    private func compare<T: Comparable>(_: T.Type, _ a: Tensor, _ b: Tensor, _ y: Tensor, _ broadcast: Broadcast) {
        let (pa, pb, py) = (a.elements(as: T.self), b.elements(as: T.self), y.mutableElements(as: UInt8.self))
        switch op {
        case .equal: broadcast.map(pa, pb, into: py) { $0 == $1 ? 1 : 0 }
        case .less: broadcast.map(pa, pb, into: py) { $0 < $1 ? 1 : 0 }
        case .greater: broadcast.map(pa, pb, into: py) { $0 > $1 ? 1 : 0 }
        case .lessOrEqual: broadcast.map(pa, pb, into: py) { $0 <= $1 ? 1 : 0 }
        case .greaterOrEqual: broadcast.map(pa, pb, into: py) { $0 >= $1 ? 1 : 0 }
        }
    }
}

/// Where(condition, X, Y): X where the bool condition holds, else Y, all three broadcast together. Any element type,
/// strings included.
struct WhereKernel: Kernel {
    init(_ node: NodeDefinition) throws {
        try node.expectInputs(3)
    }

    func run(_ io: NodeIO) throws {
        let condition = try io.requiredInput(0)
        let x = try io.requiredInput(1)
        let y = try io.requiredInput(2)
        guard condition.elementType == .bool else {
            throw InferenceError.invalidInput("Where condition must be bool, got \(condition.elementType)")
        }
        guard x.elementType == y.elementType else {
            throw InferenceError.invalidInput("Where X and Y differ in type: \(x.elementType) and \(y.elementType)")
        }
        let broadcast = try Broadcast([condition.shape, x.shape, y.shape])
        let out = try io.output(0, x.elementType, broadcast.resultShape, writingStrings: true)
        guard out.count > 0 else { return }
        if x.elementType == .string { return select(String.self, condition, x, y, out, broadcast) }
        switch x.elementType.byteSize {
        case 1: select(UInt8.self, condition, x, y, out, broadcast)
        case 2: select(UInt16.self, condition, x, y, out, broadcast)
        case 4: select(UInt32.self, condition, x, y, out, broadcast)
        default: select(UInt64.self, condition, x, y, out, broadcast)
        }
    }

    private func select<T>(_: T.Type, _ c: Tensor, _ x: Tensor, _ y: Tensor, _ out: Tensor, _ broadcast: Broadcast) {
        let pc = c.elements(as: UInt8.self).baseAddress!
        let px = x.elements(as: T.self).baseAddress!, py = y.elements(as: T.self).baseAddress!
        let po = out.mutableElements(as: T.self).baseAddress!
        broadcast.forEachRow { row, offsets, count, steps in
            let cc = pc + offsets[0], xx = px + offsets[1], yy = py + offsets[2], o = po + row
            if steps[0] == 1 && steps[1] == 1 && steps[2] == 1 {
                for i in 0..<count { o[i] = cc[i] != 0 ? xx[i] : yy[i] }
            } else {
                let (sc, sx, sy) = (steps[0], steps[1], steps[2])
                for i in 0..<count { o[i] = cc[i * sc] != 0 ? xx[i * sx] : yy[i * sy] }
            }
        }
    }
}

/// IsNaN and IsInf (`detect_negative` / `detect_positive` choosing which infinities) on float32 and float64; the
/// output is bool.
struct FloatClassKernel: Kernel {
    let nan: Bool
    let negative: Bool
    let positive: Bool

    init(nan: Bool, _ node: NodeDefinition) throws {
        try node.expectInputs(1)
        self.nan = nan
        negative = nan ? false : try node.attributes.int("detect_negative", default: 1) != 0
        positive = nan ? false : try node.attributes.int("detect_positive", default: 1) != 0
    }

    func run(_ io: NodeIO) throws {
        let x = try io.requiredInput(0)
        let y = try io.output(0, .bool, x.shape)
        let out = y.mutableElements(as: UInt8.self)
        switch x.elementType {
        case .float32: for (i, v) in x.elements(as: Float.self).enumerated() { out[i] = test(Double(v)) ? 1 : 0 }
        case .float64: for (i, v) in x.elements(as: Double.self).enumerated() { out[i] = test(v) ? 1 : 0 }
        default: throw InferenceError.invalidInput("\(nan ? "IsNaN" : "IsInf") does not take \(x.elementType)")
        }
    }

    private func test(_ v: Double) -> Bool {
        nan ? v.isNaN : v.isInfinite && (v < 0 ? negative : positive)
    }
}
