/// AffineGrid (opset 20): the sampling grid of affine transforms `theta` ([N, 2, 3] for 2-D, [N, 3, 4] for 3-D,
/// float32 or float64) over an output of `size` ([N, C, H, W] or [N, C, D, H, W]): grid[n, (d,) h, w] =
/// theta[n] · (x_w, y_h, (z_d,) 1), the normalized coordinates running over [-1, 1] — through the pixel centres
/// (align_corners 0) or the corner pixels (1). The result feeds GridSample.
struct AffineGridKernel: Kernel {
    let alignCorners: Bool

    init(_ node: NodeDefinition) throws {
        try node.expectInputs(2)
        alignCorners = try node.attributes.int("align_corners", default: 0) != 0
    }

    func run(_ io: NodeIO) throws {
        let theta = try io.requiredInput(0)
        guard let size = try io.requiredInput(1).integers(), size.count == 4 || size.count == 5 else {
            throw InferenceError.invalidInput("AffineGrid size must be int64 [N, C, H, W] or [N, C, D, H, W]")
        }
        let spatial = Array(size.dropFirst(2))
        let axes = spatial.count
        guard theta.shape == [size[0], axes, axes + 1] else {
            throw InferenceError.invalidInput("AffineGrid theta \(theta.shape) does not fit size \(size): it must be [\(size[0]), \(axes), \(axes + 1)]")
        }
        let outputShape = [size[0]] + spatial + [axes]
        try outputShape.validateShape()
        let grid = try io.output(0, theta.elementType, outputShape)
        switch theta.elementType {
        case .float32: fill(Float.self, theta, grid, spatial)
        case .float64: fill(Double.self, theta, grid, spatial)
        default: throw InferenceError.invalidInput("AffineGrid theta must be float32 or float64, got \(theta.elementType)")
        }
    }

    /// The normalized coordinate of position `i` of an axis of `n` positions.
    private func coordinate(_ i: Int, _ n: Int) -> Double {
        if alignCorners { return n == 1 ? -1 : -1 + 2 * Double(i) / Double(n - 1) }
        return (2 * Double(i) + 1) / Double(n) - 1
    }

    private func fill<T: BinaryFloatingPoint>(_: T.Type, _ theta: Tensor, _ grid: Tensor, _ spatial: [Int]) {
        let axes = spatial.count
        let points = spatial.reduce(1, *)
        let t = theta.elements(as: T.self), out = grid.mutableElements(as: T.self)
        // An empty grid (a batch of 0) bounds nothing: its spatial sizes may be anything, so size nothing by them.
        guard !out.isEmpty else { return }
        // The axes' coordinates, innermost (x) first, as the homogeneous point lists them.
        let coordinates = spatial.reversed().map { n in (0..<n).map { coordinate($0, n) } }
        var point = [Double](repeating: 1, count: axes + 1)
        for batch in 0..<(theta.shape[0]) {
            let matrix = batch * axes * (axes + 1)
            for p in 0..<points {
                var rest = p
                for axis in 0..<axes {
                    let n = spatial[axes - 1 - axis]
                    point[axis] = coordinates[axis][rest % n]
                    rest /= n
                }
                for row in 0..<axes {
                    var sum = 0.0
                    for column in 0...axes { sum += Double(t[matrix + row * (axes + 1) + column]) * point[column] }
                    out[(batch * points + p) * axes + row] = T(sum)
                }
            }
        }
    }
}
