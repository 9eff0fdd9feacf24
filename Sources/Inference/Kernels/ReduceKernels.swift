/// The reductions over a set of axes.
enum ReduceOperator: String, CaseIterable, Sendable {
    case sum = "ReduceSum", mean = "ReduceMean", max = "ReduceMax", min = "ReduceMin"

    var opType: String { rawValue }

    /// The first opset taking the axes as an input instead of an attribute.
    var axesInputOpset: Int { self == .sum ? 13 : 18 }
}

/// ReduceSum, ReduceMean, ReduceMax and ReduceMin over the given axes (all when none are given, unless
/// `noop_with_empty_axes`), `keepdims` keeping them as 1. Axes are an attribute before opset 13 (Sum) / 18 (the
/// others) and an optional int64 input from then on. float32, float64, int32, int64 (Max/Min also int8, uint8, bool).
/// Empty reductions give 0 (Sum), NaN (Mean of floats), or the type's lowest/highest value (Max/Min).
struct ReduceKernel: Kernel {
    let op: ReduceOperator
    let keepDims: Bool
    let noopWithEmptyAxes: Bool
    let attributeAxes: [Int]?
    let axesFromInput: Bool

    init(_ op: ReduceOperator, _ node: NodeDefinition) throws {
        self.op = op
        keepDims = try node.attributes.int("keepdims", default: 1) != 0
        if node.opsetVersion >= op.axesInputOpset {
            try node.expectInputs(1, 2)
            noopWithEmptyAxes = try node.attributes.int("noop_with_empty_axes", default: 0) != 0
            attributeAxes = nil
            axesFromInput = true
        } else {
            try node.expectInputs(1)
            noopWithEmptyAxes = false
            attributeAxes = try node.attributes.ints("axes")
            axesFromInput = false
        }
    }

    func run(_ io: NodeIO) throws {
        let x = try io.requiredInput(0)
        var axes = attributeAxes ?? []
        if axesFromInput, let tensor = io.input(1) {
            axes = try tensor.integerList("\(op.opType) axes")
        }
        if axes.isEmpty {
            if noopWithEmptyAxes {
                try io.setOutput(0, x)
                return
            }
            axes = Array(0..<x.rank)
        }
        let reduced = try normalizedAxes(axes, rank: x.rank)
        var keptShape = x.shape
        for axis in reduced { keptShape[axis] = 1 }
        let outShape = keepDims ? keptShape : x.shape.indices.filter { !reduced.contains($0) }.map { x.shape[$0] }
        let y = try io.output(0, x.elementType, outShape)
        let reducedCount = reduced.reduce(1) { $0 * x.shape[$1] }
        switch x.elementType {
        case .float32: try reduce(Float.self, x, y, keptShape, reducedCount, low: -.infinity, high: .infinity)
        case .float64: try reduce(Double.self, x, y, keptShape, reducedCount, low: -.infinity, high: .infinity)
        case .int32: try reduce(Int32.self, x, y, keptShape, reducedCount, low: .min, high: .max)
        case .int64: try reduce(Int64.self, x, y, keptShape, reducedCount, low: .min, high: .max)
        case .int8 where op == .max || op == .min: try reduce(Int8.self, x, y, keptShape, reducedCount, low: .min, high: .max)
        case .uint8 where op == .max || op == .min: try reduce(UInt8.self, x, y, keptShape, reducedCount, low: .min, high: .max)
        case .bool where op == .max || op == .min: try reduce(UInt8.self, x, y, keptShape, reducedCount, low: 0, high: 1)
        default: throw InferenceError.invalidInput("\(op.opType) does not take \(x.elementType)")
        }
    }

    private func reduce<T: Numeric & Comparable>(
        _: T.Type, _ x: Tensor, _ y: Tensor, _ keptShape: [Int], _ reducedCount: Int, low: T, high: T
    ) throws where T: _ReduceArithmetic {
        let out = y.mutableElements(as: T.self)
        guard let dst = out.baseAddress, out.count > 0 else { return }
        let initial: T = op == .max ? low : op == .min ? high : 0
        dst.update(repeating: initial, count: out.count)
        guard x.count > 0 else {
            if op == .mean { for i in 0..<out.count { dst[i] = T.divide(dst[i], 0) } }
            return
        }
        let src = x.elements(as: T.self).baseAddress!
        // The output broadcast back over the input: stride 0 along reduced axes.
        let broadcast = try Broadcast([x.shape, keptShape])
        let op = self.op
        broadcast.forEachRow { row, offsets, count, steps in
            let from = src + row, to = dst + offsets[1]
            if steps[1] == 0 {
                var acc = to[0]
                switch op {
                case .sum, .mean: for i in 0..<count { acc = T.add(acc, from[i]) }
                case .max: for i in 0..<count { acc = Swift.max(acc, from[i]) }
                case .min: for i in 0..<count { acc = Swift.min(acc, from[i]) }
                }
                to[0] = acc
            } else {
                switch op {
                case .sum, .mean: for i in 0..<count { to[i] = T.add(to[i], from[i]) }
                case .max: for i in 0..<count { to[i] = Swift.max(to[i], from[i]) }
                case .min: for i in 0..<count { to[i] = Swift.min(to[i], from[i]) }
                }
            }
        }
        if op == .mean {
            for i in 0..<out.count { dst[i] = T.divide(dst[i], reducedCount) }
        }
    }
}

/// Addition and division the reductions use: wrapping for integers, IEEE for floats.
protocol _ReduceArithmetic {
    static func add(_ a: Self, _ b: Self) -> Self
    static func divide(_ a: Self, _ count: Int) -> Self
}

extension Float: _ReduceArithmetic {
    @inline(__always) static func add(_ a: Float, _ b: Float) -> Float { a + b }
    static func divide(_ a: Float, _ count: Int) -> Float { a / Float(count) }
}

extension Double: _ReduceArithmetic {
    @inline(__always) static func add(_ a: Double, _ b: Double) -> Double { a + b }
    static func divide(_ a: Double, _ count: Int) -> Double { a / Double(count) }
}

extension FixedWidthInteger {
    @inline(__always) static func add(_ a: Self, _ b: Self) -> Self { a &+ b }
    /// Integer mean truncates; the mean of nothing is 0.
    static func divide(_ a: Self, _ count: Int) -> Self {
        guard count > 0, let divisor = Self(exactly: count) else { return count > 0 ? 0 : a }
        return a.dividedReportingOverflow(by: divisor).partialValue
    }
}

extension Int8: _ReduceArithmetic {}
extension Int32: _ReduceArithmetic {}
extension Int64: _ReduceArithmetic {}
extension UInt8: _ReduceArithmetic {}

/// ArgMax / ArgMin along `axis` (int64 output), `keepdims`, and `select_last_index` choosing the last of equal
/// extremes. float32, float64, int8, int32, int64, uint8.
struct ArgExtremumKernel: Kernel {
    let largest: Bool
    let axis: Int
    let keepDims: Bool
    let selectLast: Bool

    init(largest: Bool, _ node: NodeDefinition) throws {
        try node.expectInputs(1)
        self.largest = largest
        axis = try node.attributes.int("axis", default: 0)
        keepDims = try node.attributes.int("keepdims", default: 1) != 0
        selectLast = try node.attributes.int("select_last_index", default: 0) != 0
    }

    func run(_ io: NodeIO) throws {
        let x = try io.requiredInput(0)
        let axis = try normalizedAxis(self.axis, rank: x.rank)
        let dim = x.shape[axis]
        var shape = x.shape
        if keepDims { shape[axis] = 1 } else { shape.remove(at: axis) }
        let y = try io.output(0, .int64, shape)
        guard y.count > 0 else { return }
        guard dim > 0 else { throw InferenceError.invalidInput("\(largest ? "ArgMax" : "ArgMin") over an empty axis") }
        let outer = x.shape[..<axis].reduce(1, *), inner = x.shape[(axis + 1)...].reduce(1, *)
        switch x.elementType {
        case .float32: find(Float.self, x, y, outer, dim, inner)
        case .float64: find(Double.self, x, y, outer, dim, inner)
        case .int8: find(Int8.self, x, y, outer, dim, inner)
        case .int32: find(Int32.self, x, y, outer, dim, inner)
        case .int64: find(Int64.self, x, y, outer, dim, inner)
        case .uint8: find(UInt8.self, x, y, outer, dim, inner)
        default: throw InferenceError.invalidInput("\(largest ? "ArgMax" : "ArgMin") does not take \(x.elementType)")
        }
    }

    private func find<T: Comparable>(_: T.Type, _ x: Tensor, _ y: Tensor, _ outer: Int, _ dim: Int, _ inner: Int) {
        let src = x.elements(as: T.self).baseAddress!, dst = y.mutableElements(as: Int64.self).baseAddress!
        let (largest, selectLast) = (self.largest, self.selectLast)
        for o in 0..<outer {
            for i in 0..<inner {
                let base = src + o * dim * inner + i
                var best = base[0], index = 0
                for j in 1..<Swift.max(dim, 1) {
                    let v = base[j * inner]
                    let wins = largest
                        ? (selectLast ? v >= best : v > best)
                        : (selectLast ? v <= best : v < best)
                    if wins { best = v; index = j }
                }
                dst[o * inner + i] = Int64(index)
            }
        }
    }
}
