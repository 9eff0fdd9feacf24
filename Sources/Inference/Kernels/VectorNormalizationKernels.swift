import Foundation

/// LpNormalization: x divided by its L1 or L2 norm along `axis` (p 1 or 2), 0 where the norm is 0; float32 and
/// float64.
struct LpNormalizationKernel: Kernel {
    let axis: Int
    let p: Int

    init(_ node: NodeDefinition) throws {
        try node.expectInputs(1)
        axis = try node.attributes.int("axis", default: -1)
        p = try node.attributes.int("p", default: 2)
        guard p == 1 || p == 2 else { throw InferenceError.unsupported(["\(node.label): p \(p) (1 or 2)"]) }
    }

    func run(_ io: NodeIO) throws {
        let x = try io.requiredInput(0)
        let axis = try normalizedAxis(self.axis, rank: x.rank)
        let y = try io.output(0, x.elementType, x.shape)
        let (outer, dim, inner) = (x.shape[..<axis].reduce(1, *), x.shape[axis], x.shape[(axis + 1)...].reduce(1, *))
        func normalize<T: BinaryFloatingPoint>(_: T.Type) {
            let src = x.elements(as: T.self), dst = y.mutableElements(as: T.self)
            for o in 0..<outer {
                for i in 0..<inner {
                    var norm = 0.0
                    for d in 0..<dim {
                        let v = Double(src[(o * dim + d) * inner + i])
                        norm += p == 1 ? Swift.abs(v) : v * v
                    }
                    if p == 2 { norm = norm.squareRoot() }
                    for d in 0..<dim {
                        dst[(o * dim + d) * inner + i] = norm == 0 ? 0 : T(Double(src[(o * dim + d) * inner + i]) / norm)
                    }
                }
            }
        }
        switch x.elementType {
        case .float32: normalize(Float.self)
        case .float64: normalize(Double.self)
        default: throw InferenceError.invalidInput("LpNormalization does not take \(x.elementType)")
        }
    }
}

/// MeanVarianceNormalization: (x − mean) / (√(E[x²] − mean²) + 1e-9) over `axes` (default [0, 2, 3]); float32 and
/// float64.
struct MeanVarianceNormalizationKernel: Kernel {
    let axes: [Int]

    init(_ node: NodeDefinition) throws {
        try node.expectInputs(1)
        axes = try node.attributes.ints("axes") ?? [0, 2, 3]
    }

    func run(_ io: NodeIO) throws {
        let x = try io.requiredInput(0)
        let reduced = try normalizedAxes(axes, rank: x.rank)
        var kept = x.shape
        for axis in reduced { kept[axis] = 1 }
        let y = try io.output(0, x.elementType, x.shape)
        guard x.count > 0 else { return }
        let groups = kept.elementCount, n = Double(x.count / groups)
        let broadcast = try Broadcast([x.shape, kept])
        func normalize<T: BinaryFloatingPoint>(_: T.Type) {
            let src = x.elements(as: T.self), dst = y.mutableElements(as: T.self)
            var sums = [Double](repeating: 0, count: groups), squares = sums
            // Each element's group: the kept shape's offset that Broadcast walks alongside the input.
            broadcast.forEachRow { row, offsets, count, steps in
                for i in 0..<count {
                    let v = Double(src[row + i])
                    sums[offsets[1] + i * steps[1]] += v
                    squares[offsets[1] + i * steps[1]] += v * v
                }
            }
            let means = sums.map { $0 / n }
            let deviations = zip(squares, means).map { ($0 / n - $1 * $1).squareRoot() + 1e-9 }
            broadcast.forEachRow { row, offsets, count, steps in
                for i in 0..<count {
                    let g = offsets[1] + i * steps[1]
                    dst[row + i] = T((Double(src[row + i]) - means[g]) / deviations[g])
                }
            }
        }
        switch x.elementType {
        case .float32: normalize(Float.self)
        case .float64: normalize(Double.self)
        default: throw InferenceError.invalidInput("MeanVarianceNormalization does not take \(x.elementType)")
        }
    }
}
