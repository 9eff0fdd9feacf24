/// CumSum and CumProd (opset 26): running sums or products along the `axis` input (a scalar), optionally `exclusive`
/// (each without its own element) and `reverse` (from the end); float32, float64, int32, int64.
struct CumulativeKernel: Kernel {
    let product: Bool
    let exclusive: Bool
    let reverse: Bool
    var opType: String { product ? "CumProd" : "CumSum" }

    init(product: Bool, _ node: NodeDefinition) throws {
        try node.expectInputs(2)
        self.product = product
        exclusive = try node.attributes.int("exclusive", default: 0) != 0
        reverse = try node.attributes.int("reverse", default: 0) != 0
    }

    func run(_ io: NodeIO) throws {
        let x = try io.requiredInput(0)
        let axes = try io.requiredInput(1).integerList("\(opType) axis")
        guard axes.count == 1 else { throw InferenceError.invalidInput("\(opType) axis must be one integer, got \(axes)") }
        let axis = try normalizedAxis(axes[0], rank: x.rank)
        let y = try io.output(0, x.elementType, x.shape)
        guard x.count > 0 else { return }
        let (outer, dim) = (x.shape[..<axis].reduce(1, *), x.shape[axis])
        let inner = x.shape[(axis + 1)...].reduce(1, *)
        switch x.elementType {
        case .float32: scan(Float.self, x, y, outer, dim, inner)
        case .float64: scan(Double.self, x, y, outer, dim, inner)
        case .int32: scan(Int32.self, x, y, outer, dim, inner)
        case .int64: scan(Int64.self, x, y, outer, dim, inner)
        default: throw InferenceError.invalidInput("\(opType) does not take \(x.elementType)")
        }
    }

    private func scan<T: _ReduceArithmetic>(_: T.Type, _ x: Tensor, _ y: Tensor, _ outer: Int, _ dim: Int, _ inner: Int) {
        let src = x.elements(as: T.self).baseAddress!, dst = y.mutableElements(as: T.self).baseAddress!
        for o in 0..<outer {
            for i in 0..<inner {
                var sum: T = product ? 1 : 0
                for step in 0..<dim {
                    let j = reverse ? dim - 1 - step : step
                    let index = (o * dim + j) * inner + i
                    if exclusive {
                        dst[index] = sum
                        sum = product ? T.multiply(sum, src[index]) : T.add(sum, src[index])
                    } else {
                        sum = product ? T.multiply(sum, src[index]) : T.add(sum, src[index])
                        dst[index] = sum
                    }
                }
            }
        }
    }
}
