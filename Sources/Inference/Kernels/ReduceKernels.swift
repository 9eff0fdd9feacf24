import Foundation

/// The reductions over a set of axes.
enum ReduceOperator: String, CaseIterable, Sendable {
    case sum = "ReduceSum", mean = "ReduceMean", max = "ReduceMax", min = "ReduceMin", prod = "ReduceProd"
    case sumSquare = "ReduceSumSquare", l1 = "ReduceL1", l2 = "ReduceL2", logSum = "ReduceLogSum"
    case logSumExp = "ReduceLogSumExp"

    var opType: String { rawValue }

    /// The first opset taking the axes as an input instead of an attribute.
    var axesInputOpset: Int { self == .sum ? 13 : 18 }

    /// How the elements combine: added (after a per-element transform), multiplied, or the largest / smallest kept.
    var accumulation: Accumulation {
        switch self {
        case .max: .largest
        case .min: .smallest
        case .prod: .product
        case .sum, .mean, .logSum, .logSumExp: .sum(.identity)
        case .sumSquare, .l2: .sum(.square)
        case .l1: .sum(.magnitude)
        }
    }

    /// Whether the result is only defined through floating point (a root, a logarithm, an exponential).
    var needsFloats: Bool { self == .l2 || self == .logSum || self == .logSumExp }

    enum Accumulation: Equatable {
        case sum(Transform), product, largest, smallest
    }

    enum Transform: Equatable {
        case identity, square, magnitude
    }
}

/// ReduceSum, ReduceMean, ReduceMax, ReduceMin, ReduceProd, ReduceSumSquare, ReduceL1, ReduceL2, ReduceLogSum and
/// ReduceLogSumExp over the given axes (all when none are given, unless `noop_with_empty_axes`), `keepdims` keeping
/// them as 1. Axes are an attribute before opset 13 (Sum) / 18 (the others) and an optional int64 input from then on.
/// float32, float64, int32, int64 (Max/Min also int8, uint8, bool; L2, LogSum and LogSumExp only floats). Empty
/// reductions give the operation's identity: 0 (sums), 1 (Prod), NaN (Mean of floats), −∞ (LogSum, LogSumExp), or the
/// type's lowest/highest value (Max/Min). LogSumExp subtracts each output's maximum before exponentiating, so large
/// inputs do not overflow.
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
        let ordered = op == .max || op == .min
        switch x.elementType {
        case .float32: try reduce(Float.self, x, y, keptShape, reducedCount, low: -.infinity, high: .infinity, io)
        case .float64: try reduce(Double.self, x, y, keptShape, reducedCount, low: -.infinity, high: .infinity, io)
        case .int32 where !op.needsFloats: try reduce(Int32.self, x, y, keptShape, reducedCount, low: .min, high: .max, io)
        case .int64 where !op.needsFloats: try reduce(Int64.self, x, y, keptShape, reducedCount, low: .min, high: .max, io)
        case .int8 where ordered: try reduce(Int8.self, x, y, keptShape, reducedCount, low: .min, high: .max, io)
        case .uint8 where ordered: try reduce(UInt8.self, x, y, keptShape, reducedCount, low: .min, high: .max, io)
        case .bool where ordered: try reduce(UInt8.self, x, y, keptShape, reducedCount, low: 0, high: 1, io)
        default: throw InferenceError.invalidInput("\(op.opType) does not take \(x.elementType)")
        }
    }

    private func reduce<T: _ReduceArithmetic>(
        _: T.Type, _ x: Tensor, _ y: Tensor, _ keptShape: [Int], _ reducedCount: Int, low: T, high: T, _ io: NodeIO
    ) throws {
        let out = y.mutableElements(as: T.self)
        guard let dst = out.baseAddress, out.count > 0 else { return }
        // LogSumExp: each output's maximum first (in scratch), then the sum of exp(x − max) around it.
        var center: UnsafeMutablePointer<T>?
        if op == .logSumExp {
            let maxima = try io.scratch(T.self, count: out.count)
            try accumulate(.largest, x, maxima, out.count, keptShape, initial: low, center: nil)
            for i in 0..<out.count where !maxima[i].isFiniteValue { maxima[i] = 0 }
            center = maxima
        }
        let accumulation = op.accumulation
        let initial: T = switch accumulation {
        case .largest: low
        case .smallest: high
        case .product: 1
        case .sum: 0
        }
        try accumulate(accumulation, x, dst, out.count, keptShape, initial: initial, center: center)
        switch op {
        case .mean: for i in 0..<out.count { dst[i] = T.divide(dst[i], reducedCount) }
        case .l2: for i in 0..<out.count { dst[i] = T.viaDouble(dst[i]) { $0.squareRoot() } }
        case .logSum: for i in 0..<out.count { dst[i] = T.viaDouble(dst[i]) { Foundation.log($0) } }
        case .logSumExp:
            for i in 0..<out.count { dst[i] = T.add(T.viaDouble(dst[i]) { Foundation.log($0) }, center![i]) }
        default: break
        }
    }

    /// Combines every element of `x` into `dst` (`count` values shaped `keptShape`, filled with `initial` first);
    /// with `center`, sums exp(x − center) instead.
    private func accumulate<T: _ReduceArithmetic>(
        _ accumulation: ReduceOperator.Accumulation, _ x: Tensor, _ dst: UnsafeMutablePointer<T>, _ count: Int,
        _ keptShape: [Int], initial: T, center: UnsafeMutablePointer<T>?
    ) throws {
        dst.update(repeating: initial, count: count)
        guard x.count > 0 else { return }
        let src = x.elements(as: T.self).baseAddress!
        // The output broadcast back over the input: stride 0 along reduced axes.
        let broadcast = try Broadcast([x.shape, keptShape])
        broadcast.forEachRow { row, offsets, count, steps in
            let from = src + row, to = dst + offsets[1]
            // After axis merging the output either stays put along the row (0) or walks with it (1).
            @inline(__always) func fold(_ f: (T, T, Int) -> T) {
                if steps[1] == 0 {
                    var acc = to[0]
                    for i in 0..<count { acc = f(acc, from[i], 0) }
                    to[0] = acc
                } else {
                    for i in 0..<count { to[i] = f(to[i], from[i], i) }
                }
            }
            if let center {
                let c = center + offsets[1]
                fold { acc, x, i in T.add(acc, T.viaDouble(T.subtract(x, c[i])) { Foundation.exp($0) }) }
                return
            }
            switch accumulation {
            case .sum(.identity): fold { acc, x, _ in T.add(acc, x) }
            case .sum(.square): fold { acc, x, _ in T.add(acc, T.multiply(x, x)) }
            case .sum(.magnitude): fold { acc, x, _ in T.add(acc, T.absolute(x)) }
            case .product: fold { acc, x, _ in T.multiply(acc, x) }
            case .largest: fold { acc, x, _ in T.larger(acc, x) }
            case .smallest: fold { acc, x, _ in T.smaller(acc, x) }
            }
        }
    }
}

/// The element arithmetic the reductions and the variadic operators use: wrapping for integers, IEEE for floats
/// (where the larger / smaller of a NaN and anything is NaN).
protocol _ReduceArithmetic: Numeric, Comparable {
    static func add(_ a: Self, _ b: Self) -> Self
    static func subtract(_ a: Self, _ b: Self) -> Self
    static func multiply(_ a: Self, _ b: Self) -> Self
    static func absolute(_ a: Self) -> Self
    static func larger(_ a: Self, _ b: Self) -> Self
    static func smaller(_ a: Self, _ b: Self) -> Self
    static func divide(_ a: Self, _ count: Int) -> Self
    /// `f` applied in double precision, converted back (saturating for integers).
    static func viaDouble(_ a: Self, _ f: (Double) -> Double) -> Self
    var isFiniteValue: Bool { get }
    /// The value in double precision.
    var asDouble: Double { get }
}

extension _ReduceArithmetic where Self: BinaryFloatingPoint {
    @inline(__always) static func add(_ a: Self, _ b: Self) -> Self { a + b }
    @inline(__always) static func subtract(_ a: Self, _ b: Self) -> Self { a - b }
    @inline(__always) static func multiply(_ a: Self, _ b: Self) -> Self { a * b }
    @inline(__always) static func absolute(_ a: Self) -> Self { Swift.abs(a) }
    @inline(__always) static func larger(_ a: Self, _ b: Self) -> Self { a.isNaN || b.isNaN ? .nan : Swift.max(a, b) }
    @inline(__always) static func smaller(_ a: Self, _ b: Self) -> Self { a.isNaN || b.isNaN ? .nan : Swift.min(a, b) }
    static func divide(_ a: Self, _ count: Int) -> Self { a / Self(count) }
    static func viaDouble(_ a: Self, _ f: (Double) -> Double) -> Self { Self(f(Double(a))) }
    var isFiniteValue: Bool { isFinite }
    var asDouble: Double { Double(self) }
}

extension _ReduceArithmetic where Self: FixedWidthInteger {
    @inline(__always) static func add(_ a: Self, _ b: Self) -> Self { a &+ b }
    @inline(__always) static func subtract(_ a: Self, _ b: Self) -> Self { a &- b }
    @inline(__always) static func multiply(_ a: Self, _ b: Self) -> Self { a &* b }
    @inline(__always) static func absolute(_ a: Self) -> Self { a < 0 ? 0 &- a : a }
    @inline(__always) static func larger(_ a: Self, _ b: Self) -> Self { Swift.max(a, b) }
    @inline(__always) static func smaller(_ a: Self, _ b: Self) -> Self { Swift.min(a, b) }
    /// Integer mean truncates; the mean of nothing is 0.
    static func divide(_ a: Self, _ count: Int) -> Self {
        guard count > 0, let divisor = Self(exactly: count) else { return count > 0 ? 0 : a }
        return a.dividedReportingOverflow(by: divisor).partialValue
    }
    static func viaDouble(_ a: Self, _ f: (Double) -> Double) -> Self { CastKernel.saturating(f(Double(a)), to: Self.self) }
    var isFiniteValue: Bool { true }
    var asDouble: Double { Double(self) }
}

extension Float: _ReduceArithmetic {}
extension Float16: _ReduceArithmetic {}
extension Double: _ReduceArithmetic {}
extension Int8: _ReduceArithmetic {}
extension Int32: _ReduceArithmetic {}
extension Int64: _ReduceArithmetic {}
extension UInt8: _ReduceArithmetic {}
extension Int16: _ReduceArithmetic {}
extension UInt16: _ReduceArithmetic {}
extension UInt32: _ReduceArithmetic {}
extension UInt64: _ReduceArithmetic {}

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
