import Foundation

/// Element-wise math operators with one input.
enum UnaryOperator: String, CaseIterable, Sendable {
    case erf = "Erf", sqrt = "Sqrt", exp = "Exp", log = "Log", neg = "Neg", abs = "Abs", reciprocal = "Reciprocal"
    case softplus = "Softplus", leakyRelu = "LeakyRelu", hardSigmoid = "HardSigmoid", gelu = "Gelu"

    var opType: String { rawValue }
}

/// Erf, Sqrt, Exp, Log, Neg, Abs, Reciprocal, Softplus, LeakyRelu, HardSigmoid and Gelu on float32 (and float64);
/// Neg and Abs also on signed integers (wrapping at the minimum, like two's complement), Abs on uint8.
struct UnaryKernel: Kernel {
    let op: UnaryOperator
    let alpha: Float
    let beta: Float
    let tanhApproximation: Bool

    init(_ op: UnaryOperator, _ node: NodeDefinition) throws {
        try node.expectInputs(1)
        self.op = op
        switch op {
        case .leakyRelu:
            alpha = try node.attributes.float("alpha", default: 0.01)
            beta = 0
        case .hardSigmoid:
            alpha = try node.attributes.float("alpha", default: 0.2)
            beta = try node.attributes.float("beta", default: 0.5)
        default:
            (alpha, beta) = (0, 0)
        }
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
            apply(x.elements(as: Float.self).baseAddress!, y.mutableElements(as: Float.self).baseAddress!, count)
        case .float64:
            applyDouble(x.elements(as: Double.self).baseAddress!, y.mutableElements(as: Double.self).baseAddress!, count)
        case .int32 where op == .neg || op == .abs:
            integer(Int32.self, x, y)
        case .int64 where op == .neg || op == .abs:
            integer(Int64.self, x, y)
        case .int8 where op == .neg || op == .abs:
            integer(Int8.self, x, y)
        case .uint8 where op == .abs:
            y.storage.pointer.copyMemory(from: x.storage.pointer, byteCount: count)
        default:
            throw InferenceError.invalidInput("\(op.opType) does not take \(x.elementType)")
        }
    }

    private func integer<T: FixedWidthInteger & SignedInteger>(_: T.Type, _ x: Tensor, _ y: Tensor) {
        let src = x.elements(as: T.self).baseAddress!, dst = y.mutableElements(as: T.self).baseAddress!
        if op == .neg {
            for i in 0..<x.count { dst[i] = 0 &- src[i] }
        } else {
            for i in 0..<x.count { let v = src[i]; dst[i] = v < 0 ? 0 &- v : v }
        }
    }

    private func apply(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, _ count: Int) {
        switch op {
        case .erf: VectorLoop.forEachParallelSpan(count) { s, n in VectorLoop.map(src + s, dst + s, n) { FastMath.erf($0) } }
        case .sqrt: for i in 0..<count { dst[i] = src[i].squareRoot() }
        case .exp: VectorLoop.forEachParallelSpan(count) { s, n in VectorLoop.map(src + s, dst + s, n) { FastMath.exp($0) } }
        case .log: for i in 0..<count { dst[i] = Foundation.log(src[i]) }
        case .neg: for i in 0..<count { dst[i] = -src[i] }
        case .abs: for i in 0..<count { dst[i] = Swift.abs(src[i]) }
        case .reciprocal: for i in 0..<count { dst[i] = 1 / src[i] }
        case .softplus:
            // log(1 + e^x) without overflow: max(x, 0) + log1p(e^-|x|).
            for i in 0..<count {
                let x = src[i]
                dst[i] = Swift.max(x, 0) + Foundation.log1p(Foundation.exp(-Swift.abs(x)))
            }
        case .leakyRelu:
            let alpha = self.alpha
            for i in 0..<count { let x = src[i]; dst[i] = x < 0 ? alpha * x : x }
        case .hardSigmoid:
            let (alpha, beta) = (self.alpha, self.beta)
            for i in 0..<count { dst[i] = Swift.max(0, Swift.min(1, alpha * src[i] + beta)) }
        case .gelu:
            if tanhApproximation {
                let c: Float = (2 / Float.pi).squareRoot()
                VectorLoop.forEachParallelSpan(count) { s, n in
                    VectorLoop.map(src + s, dst + s, n) { x in 0.5 * x * (1 + FastMath.tanh(c * (x + 0.044715 * x * x * x))) }
                }
            } else {
                VectorLoop.forEachParallelSpan(count) { s, n in VectorLoop.map(src + s, dst + s, n) { FastMath.gelu($0) } }
            }
        }
    }

    private func applyDouble(_ src: UnsafePointer<Double>, _ dst: UnsafeMutablePointer<Double>, _ count: Int) {
        switch op {
        case .erf: for i in 0..<count { dst[i] = Foundation.erf(src[i]) }
        case .sqrt: for i in 0..<count { dst[i] = src[i].squareRoot() }
        case .exp: for i in 0..<count { dst[i] = Foundation.exp(src[i]) }
        case .log: for i in 0..<count { dst[i] = Foundation.log(src[i]) }
        case .neg: for i in 0..<count { dst[i] = -src[i] }
        case .abs: for i in 0..<count { dst[i] = Swift.abs(src[i]) }
        case .reciprocal: for i in 0..<count { dst[i] = 1 / src[i] }
        case .softplus:
            for i in 0..<count {
                let x = src[i]
                dst[i] = Swift.max(x, 0) + Foundation.log1p(Foundation.exp(-Swift.abs(x)))
            }
        case .leakyRelu:
            let alpha = Double(self.alpha)
            for i in 0..<count { let x = src[i]; dst[i] = x < 0 ? alpha * x : x }
        case .hardSigmoid:
            let (alpha, beta) = (Double(self.alpha), Double(self.beta))
            for i in 0..<count { dst[i] = Swift.max(0, Swift.min(1, alpha * src[i] + beta)) }
        case .gelu:
            if tanhApproximation {
                let c = (2 / Double.pi).squareRoot()
                for i in 0..<count {
                    let x = src[i]
                    dst[i] = 0.5 * x * (1 + Foundation.tanh(c * (x + 0.044715 * x * x * x)))
                }
            } else {
                let c = 1 / Double(2).squareRoot()
                for i in 0..<count { let x = src[i]; dst[i] = 0.5 * x * (1 + Foundation.erf(x * c)) }
            }
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
        CastKernel.convert(b, to: converted)
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

