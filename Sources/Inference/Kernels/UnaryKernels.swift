import Foundation

/// Element-wise math operators with one input.
enum UnaryOperator: String, CaseIterable, Sendable {
    case erf = "Erf", sqrt = "Sqrt", exp = "Exp", log = "Log", neg = "Neg", abs = "Abs", reciprocal = "Reciprocal"
    case softplus = "Softplus", leakyRelu = "LeakyRelu", hardSigmoid = "HardSigmoid", gelu = "Gelu"
    case floor = "Floor", ceil = "Ceil", round = "Round", sign = "Sign"
    case sin = "Sin", cos = "Cos", tan = "Tan", asin = "Asin", acos = "Acos", atan = "Atan"
    case sinh = "Sinh", cosh = "Cosh", asinh = "Asinh", acosh = "Acosh", atanh = "Atanh"
    case elu = "Elu", selu = "Selu", celu = "Celu", softsign = "Softsign", mish = "Mish", hardSwish = "HardSwish"
    case thresholdedRelu = "ThresholdedRelu", shrink = "Shrink", swish = "Swish"

    var opType: String { rawValue }

    /// The attributes the operator reads, with their defaults: (alpha, beta).
    fileprivate func parameters(_ attributes: NodeAttributes) throws -> (Double, Double) {
        switch self {
        case .leakyRelu: (Double(try attributes.float("alpha", default: 0.01)), 0)
        case .hardSigmoid: (Double(try attributes.float("alpha", default: 0.2)), Double(try attributes.float("beta", default: 0.5)))
        case .elu, .celu, .thresholdedRelu, .swish: (Double(try attributes.float("alpha", default: 1)), 0)
        case .selu:
            (Double(try attributes.float("alpha", default: 1.67326319217681884765625)),
             Double(try attributes.float("gamma", default: 1.05070102214813232421875)))
        case .shrink: (Double(try attributes.float("lambd", default: 0.5)), Double(try attributes.float("bias", default: 0)))
        default: (0, 0)
        }
    }

    /// Whether the operator also takes signed integers (and uint8): Neg, Abs and Sign.
    var takesIntegers: Bool { self == .neg || self == .abs || self == .sign }
}

/// The element-wise math operators on float32 and float64, each as one scalar
/// function in double precision; Erf, Exp and Gelu on float32 take vectorized paths. Neg, Abs and Sign also on
/// signed integers (wrapping at the minimum, like two's complement) and uint8. Round rounds halves to even; Sign of
/// NaN is NaN.
struct UnaryKernel: Kernel, DeclaresElementTypes {
    let op: UnaryOperator
    let alpha: Double
    let beta: Double
    let tanhApproximation: Bool

    init(_ op: UnaryOperator, _ node: NodeDefinition) throws {
        try node.expectInputs(1)
        self.op = op
        (alpha, beta) = try op.parameters(node.attributes)
        if op == .gelu {
            switch try node.attributes.string("approximate") ?? "none" {
            case "none": tanhApproximation = false
            case "tanh": tanhApproximation = true
            case let other: throw InferenceError.unsupported(["Gelu approximate '\(other)'"])
            }
        } else {
            tanhApproximation = false
        }
    }

    func run(_ io: NodeIO) throws {
        let x = try io.requiredInput(0)
        let y = try io.output(0, x.elementType, x.shape)
        let count = x.count
        guard count > 0 else { return }
        switch x.elementType {
        case .float32:
            let src = x.elements(as: Float.self).baseAddress!, dst = y.mutableElements(as: Float.self).baseAddress!
            if !vectorized(src, dst, count) {
                for i in 0..<count { dst[i] = Float(scalar(Double(src[i]))) }
            }
        case .float64:
            let src = x.elements(as: Double.self).baseAddress!, dst = y.mutableElements(as: Double.self).baseAddress!
            for i in 0..<count { dst[i] = scalar(src[i]) }
        case .int32 where op.takesIntegers: integer(Int32.self, x, y)
        case .int64 where op.takesIntegers: integer(Int64.self, x, y)
        case .int8 where op.takesIntegers: integer(Int8.self, x, y)
        case .uint8 where op == .abs:
            y.storage.pointer.copyMemory(from: x.storage.pointer, byteCount: count)
        case .uint8 where op == .sign:
            let src = x.elements(as: UInt8.self), dst = y.mutableElements(as: UInt8.self)
            for i in 0..<count { dst[i] = src[i] == 0 ? 0 : 1 }
        default:
            throw InferenceError.invalidInput("\(op.opType) does not take \(x.elementType)")
        }
    }

    private func integer<T: FixedWidthInteger & SignedInteger>(_: T.Type, _ x: Tensor, _ y: Tensor) {
        let src = x.elements(as: T.self).baseAddress!, dst = y.mutableElements(as: T.self).baseAddress!
        switch op {
        case .neg: for i in 0..<x.count { dst[i] = 0 &- src[i] }
        case .sign: for i in 0..<x.count { dst[i] = T(src[i].signum()) }
        default: for i in 0..<x.count { let v = src[i]; dst[i] = v < 0 ? 0 &- v : v }
        }
    }

    /// The float32 operators with a vector or single-precision loop; false for the others.
    private func vectorized(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, _ count: Int) -> Bool {
        switch op {
        case .erf: VectorLoop.forEachParallelSpan(count) { s, n in VectorLoop.map(src + s, dst + s, n) { FastMath.erf($0) } }
        case .exp: VectorLoop.forEachParallelSpan(count) { s, n in VectorLoop.map(src + s, dst + s, n) { FastMath.exp($0) } }
        case .log: VectorLoop.forEachParallelSpan(count) { s, n in VectorLoop.map(src + s, dst + s, n) { FastMath.log($0) } }
        case .sqrt: for i in 0..<count { dst[i] = src[i].squareRoot() }
        case .neg: for i in 0..<count { dst[i] = -src[i] }
        case .abs: for i in 0..<count { dst[i] = Swift.abs(src[i]) }
        case .reciprocal: for i in 0..<count { dst[i] = 1 / src[i] }
        case .gelu:
            if tanhApproximation {
                let c: Float = (2 / Float.pi).squareRoot()
                VectorLoop.forEachParallelSpan(count) { s, n in
                    VectorLoop.map(src + s, dst + s, n) { x in 0.5 * x * (1 + FastMath.tanh(c * (x + 0.044715 * x * x * x))) }
                }
            } else {
                VectorLoop.forEachParallelSpan(count) { s, n in VectorLoop.map(src + s, dst + s, n) { FastMath.gelu($0) } }
            }
        default: return false
        }
        return true
    }

    /// The operator on one value, in double precision.
    @inline(__always)
    private func scalar(_ x: Double) -> Double {
        switch op {
        case .erf: Foundation.erf(x)
        case .sqrt: x.squareRoot()
        case .exp: Foundation.exp(x)
        case .log: Foundation.log(x)
        case .neg: -x
        case .abs: Swift.abs(x)
        case .reciprocal: 1 / x
        // log(1 + e^x) without overflow: max(x, 0) + log1p(e^-|x|).
        case .softplus: Swift.max(x, 0) + Foundation.log1p(Foundation.exp(-Swift.abs(x)))
        case .leakyRelu: x < 0 ? alpha * x : x
        case .hardSigmoid: Swift.max(0, Swift.min(1, alpha * x + beta))
        case .gelu:
            tanhApproximation
                ? 0.5 * x * (1 + Foundation.tanh((2 / Double.pi).squareRoot() * (x + 0.044715 * x * x * x)))
                : 0.5 * x * (1 + Foundation.erf(x / Double(2).squareRoot()))
        case .floor: x.rounded(.down)
        case .ceil: x.rounded(.up)
        case .round: x.rounded(.toNearestOrEven)
        case .sign: x.isNaN ? x : x > 0 ? 1 : x < 0 ? -1 : 0
        case .sin: Foundation.sin(x)
        case .cos: Foundation.cos(x)
        case .tan: Foundation.tan(x)
        case .asin: Foundation.asin(x)
        case .acos: Foundation.acos(x)
        case .atan: Foundation.atan(x)
        case .sinh: Foundation.sinh(x)
        case .cosh: Foundation.cosh(x)
        case .asinh: Foundation.asinh(x)
        case .acosh: Foundation.acosh(x)
        case .atanh: Foundation.atanh(x)
        case .elu: x < 0 ? alpha * Foundation.expm1(x) : x
        case .selu: x <= 0 ? beta * alpha * Foundation.expm1(x) : beta * x
        case .celu: Swift.max(0, x) + Swift.min(0, alpha * Foundation.expm1(x / alpha))
        case .softsign: x / (1 + Swift.abs(x))
        case .mish: x * Foundation.tanh(Swift.max(x, 0) + Foundation.log1p(Foundation.exp(-Swift.abs(x))))
        case .hardSwish: x * Swift.max(0, Swift.min(1, x / 6 + 0.5))
        case .thresholdedRelu: x > alpha ? x : 0
        case .shrink: x < -alpha ? x + beta : x > alpha ? x - beta : 0
        case .swish: x / (1 + Foundation.exp(-alpha * x))
        }
    }
}

/// Pow with multidirectional broadcasting: the output has the base's type; the exponent may be any numeric type
/// (opset ≥ 12; before opset 7 the `broadcast`/`axis` attributes, see `LegacyBroadcast`). Float bases use `pow`; integer bases compute in double precision and convert back, saturating.
struct PowKernel: Kernel {
    let legacy: LegacyBroadcast?

    init(_ node: NodeDefinition) throws {
        try node.expectInputs(2)
        legacy = try LegacyBroadcast(node)
    }

    func run(_ io: NodeIO) throws {
        let a = try io.requiredInput(0)
        var b = try io.requiredInput(1)
        if let legacy { b = try legacy.align(a, b, "Pow") }
        guard a.elementType.isNumeric, b.elementType.isNumeric else {
            throw InferenceError.invalidInput("Pow does not take \(a.elementType) and \(b.elementType)")
        }
        let broadcast = try Broadcast([a.shape, b.shape])
        let y = try io.output(0, a.elementType, broadcast.resultShape)
        guard y.count > 0 else { return }
        if a.elementType == .float32 && b.elementType == .float32 {
            broadcast.map(a.elements(as: Float.self), b.elements(as: Float.self), into: y.mutableElements(as: Float.self)) {
                $1 == 2 ? $0 * $0 : Foundation.pow($0, $1)
            }
            return
        }
        // Mixed types: the exponent through double precision (a per-run buffer; mixed-type Pow is rare).
        let converted = Tensor(elementType: .float64, shape: b.shape, storage: TensorStorage(byteCapacity: b.count * 8))
        try CastKernel.convert(b, to: converted)
        try withExtendedLifetime(converted) {
            let exponent = converted.elements(as: Double.self)
            switch a.elementType {
            case .float32:
                broadcast.map(a.elements(as: Float.self), exponent, into: y.mutableElements(as: Float.self)) {
                    Float(Foundation.pow(Double($0), $1))
                }
            case .float64:
                broadcast.map(a.elements(as: Double.self), exponent, into: y.mutableElements(as: Double.self)) {
                    Foundation.pow($0, $1)
                }
            case .int32: integer(Int32.self, a, exponent, y, broadcast)
            case .int64: integer(Int64.self, a, exponent, y, broadcast)
            case .int8: integer(Int8.self, a, exponent, y, broadcast)
            case .uint8: integer(UInt8.self, a, exponent, y, broadcast)
            case .int16: integer(Int16.self, a, exponent, y, broadcast)
            case .uint16: integer(UInt16.self, a, exponent, y, broadcast)
            case .uint32: integer(UInt32.self, a, exponent, y, broadcast)
            case .uint64: integer(UInt64.self, a, exponent, y, broadcast)
            default: throw InferenceError.invalidInput("Pow does not take \(a.elementType)")
            }
        }
    }

    private func integer<T: FixedWidthInteger>(
        _: T.Type, _ a: Tensor, _ exponent: UnsafeBufferPointer<Double>, _ y: Tensor, _ broadcast: Broadcast
    ) {
        broadcast.map(a.elements(as: T.self), exponent, into: y.mutableElements(as: T.self)) {
            CastKernel.saturating(Foundation.pow(Double($0), $1), to: T.self)
        }
    }
}


extension UnaryKernel {
    /// float32 and float64; Neg, Abs and Sign also int8, int32, int64, and Abs and Sign uint8 (the cases of `run`).
    func acceptedTypes(input position: Int) -> Set<ElementType>? {
        var types: Set<ElementType> = [.float32, .float64]
        if op.takesIntegers { types.formUnion([.int8, .int32, .int64]) }
        if op == .abs || op == .sign { types.insert(.uint8) }
        return types
    }
}
