import Foundation

/// Softmax over one axis (opset ≥ 13, default axis -1), or over the flattened trailing axes from `axis` on
/// (opset < 13, default axis 1), on float32.
struct SoftmaxKernel: Kernel {
    let axis: Int
    let flattensTrailingAxes: Bool

    init(_ node: NodeDefinition) throws {
        try node.expectInputs(1)
        flattensTrailingAxes = node.opsetVersion < 13
        axis = try node.attributes.int("axis", default: flattensTrailingAxes ? 1 : -1)
    }

    func run(_ io: NodeIO) throws {
        let x = try io.requiredInput(0)
        guard x.elementType == .float32 else {
            throw InferenceError.invalidInput("Softmax takes float32, got \(x.elementType)")
        }
        let axis = try normalizedAxis(self.axis, rank: x.rank)
        let outer = x.shape[..<axis].reduce(1, *)
        let (length, inner) = flattensTrailingAxes
            ? (x.shape[axis...].reduce(1, *), 1)
            : (x.shape[axis], x.shape[(axis + 1)...].reduce(1, *))
        let y = try io.output(0, .float32, x.shape)
        guard x.count > 0 else { return }
        let src = x.elements(as: Float.self).baseAddress!
        let dst = y.mutableElements(as: Float.self).baseAddress!
        if inner == 1 {
            // Contiguous rows: max, exp, sum and scale each one vector pass.
            Parallelism.forEachChunk(outer, grain: Swift.max(1, 8192 / Swift.max(length, 1))) { _, rows in
                for o in rows {
                    let row = src + o * length, out = dst + o * length
                    let maximum = FloatVector(repeating: VectorLoop.max(row, length))
                    VectorLoop.map(row, out, length) { FastMath.exp($0 - maximum) }
                    let scale = FloatVector(repeating: 1 / VectorLoop.sum(out, length))
                    VectorLoop.map(out, out, length) { $0 * scale }
                }
            }
            return
        }
        for o in 0..<outer {
            for i in 0..<inner {
                let base = o * length * inner + i
                var maximum = -Float.infinity
                for j in 0..<length { maximum = max(maximum, src[base + j * inner]) }
                var sum: Float = 0
                for j in 0..<length {
                    let e = FastMath.exp(src[base + j * inner] - maximum)
                    dst[base + j * inner] = e
                    sum += e
                }
                let scale = 1 / sum
                for j in 0..<length { dst[base + j * inner] *= scale }
            }
        }
    }
}
