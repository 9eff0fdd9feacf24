import Foundation

/// The operators normalizing along one axis.
enum SoftmaxOperator: String, CaseIterable, Sendable {
    case softmax = "Softmax", logSoftmax = "LogSoftmax", hardmax = "Hardmax"

    var opType: String { rawValue }
}

/// Softmax, LogSoftmax and Hardmax over one axis (opset ≥ 13, default axis -1), or over the flattened trailing axes
/// from `axis` on (opset < 13, default axis 1). LogSoftmax is x − max − log Σ exp(x − max); Hardmax is 1
/// at the first largest element of each row and 0 elsewhere. float32 (vectorized along contiguous rows) and float64.
struct SoftmaxKernel: Kernel, DeclaresElementTypes {
    let op: SoftmaxOperator
    let axis: Int
    let flattensTrailingAxes: Bool

    init(_ op: SoftmaxOperator, _ node: NodeDefinition) throws {
        try node.expectInputs(1)
        self.op = op
        flattensTrailingAxes = node.opsetVersion < 13
        axis = try node.attributes.int("axis", default: flattensTrailingAxes ? 1 : -1)
    }

    func run(_ io: NodeIO) throws {
        let x = try io.requiredInput(0)
        try checkType(x, at: 0, op.opType)
        let axis = try normalizedAxis(self.axis, rank: x.rank)
        let outer = x.shape[..<axis].reduce(1, *)
        let (length, inner) = flattensTrailingAxes
            ? (x.shape[axis...].reduce(1, *), 1)
            : (x.shape[axis], x.shape[(axis + 1)...].reduce(1, *))
        let y = try io.output(0, x.elementType, x.shape)
        guard x.count > 0 else { return }
        if x.elementType == .float64 {
            strided(x.elements(as: Double.self).baseAddress!, y.mutableElements(as: Double.self).baseAddress!,
                    outer, length, inner)
            return
        }
        let src = x.elements(as: Float.self).baseAddress!
        let dst = y.mutableElements(as: Float.self).baseAddress!
        if inner == 1 && op != .hardmax {
            // Contiguous rows: max, exp, sum and scale (or shift) each one vector pass.
            let op = self.op
            Parallelism.forEachChunk(outer, grain: Swift.max(1, 8192 / Swift.max(length, 1))) { _, rows in
                for o in rows {
                    let row = src + o * length, out = dst + o * length
                    let maximum = FloatVector(repeating: VectorLoop.max(row, length))
                    VectorLoop.map(row, out, length) { FastMath.exp($0 - maximum) }
                    let sum = VectorLoop.sum(out, length)
                    if op == .softmax {
                        let scale = FloatVector(repeating: 1 / sum)
                        VectorLoop.map(out, out, length) { $0 * scale }
                    } else {
                        let shift = maximum + FloatVector(repeating: Foundation.log(sum))
                        VectorLoop.map(row, out, length) { $0 - shift }
                    }
                }
            }
            return
        }
        strided(src, dst, outer, length, inner)
    }

    /// Rows of `length` elements `inner` apart (any layout), one at a time; exponentials in double precision.
    private func strided<T: BinaryFloatingPoint>(
        _ src: UnsafePointer<T>, _ dst: UnsafeMutablePointer<T>, _ outer: Int, _ length: Int, _ inner: Int
    ) {
        for o in 0..<outer {
            for i in 0..<inner {
                let base = o * length * inner + i
                var maximum = -T.infinity, first = 0
                for j in 0..<length where src[base + j * inner] > maximum || j == 0 {
                    maximum = src[base + j * inner]
                    first = j
                }
                switch op {
                case .hardmax:
                    for j in 0..<length { dst[base + j * inner] = j == first ? 1 : 0 }
                case .softmax, .logSoftmax:
                    var sum = 0.0
                    for j in 0..<length {
                        let e = Foundation.exp(Double(src[base + j * inner] - maximum))
                        dst[base + j * inner] = T(e)
                        sum += e
                    }
                    if op == .softmax {
                        let scale = 1 / sum
                        for j in 0..<length { dst[base + j * inner] = T(Double(dst[base + j * inner]) * scale) }
                    } else {
                        let shift = Double(maximum) + Foundation.log(sum)
                        for j in 0..<length { dst[base + j * inner] = T(Double(src[base + j * inner]) - shift) }
                    }
                }
            }
        }
    }
}

extension SoftmaxKernel {
    func acceptedTypes(input position: Int) -> Set<ElementType>? { DeclaredTypes.floats }
}
