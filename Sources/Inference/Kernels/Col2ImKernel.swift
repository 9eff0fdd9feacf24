/// Col2Im (opset 18): rebuilds images from their sliding blocks, the inverse of im2col, summing where blocks
/// overlap. Input [N, C · ∏block_shape, L] with `image_shape` and `block_shape` (int64, one size per spatial axis) as
/// inputs and `dilations`, `pads`, `strides` as attributes; L must be the number of block positions those give (a
/// convolution's output positions, `AxisWindow`). Output [N, C, image_shape...]; float types.
struct Col2ImKernel: Kernel {
    let window: WindowAttributes

    init(_ node: NodeDefinition) throws {
        try node.expectInputs(3)
        window = try WindowAttributes(node, readsDilations: true, readsCeilMode: false, requiresKernelShape: false)
    }

    func run(_ io: NodeIO) throws {
        let x = try io.requiredInput(0)
        guard let image = try io.requiredInput(1).integers(), let block = try io.requiredInput(2).integers(),
              !image.isEmpty, image.count == block.count, image.allSatisfy({ $0 >= 0 }), block.allSatisfy({ $0 >= 1 })
        else {
            throw InferenceError.invalidInput("Col2Im takes image_shape and block_shape: int64, one positive size per spatial axis each")
        }
        try block.validateShape()
        try image.validateShape()
        let blockVolume = block.reduce(1, *)
        guard x.rank == 3, x.shape[1] % blockVolume == 0, [.float32, .float64].contains(x.elementType) else {
            throw InferenceError.invalidInput("Col2Im takes float [N, C·\(blockVolume), L], got \(x.elementType) \(x.shape)")
        }
        let axes = try window.axes(spatialShape: image, kernel: block)
        let positions = axes.map(\.output)
        try positions.validateShape()
        guard positions.reduce(1, *) == x.shape[2] else {
            throw InferenceError.invalidInput("Col2Im input has \(x.shape[2]) blocks, image \(image) with block \(block) gives \(positions.reduce(1, *))")
        }
        let channels = x.shape[1] / blockVolume
        let y = try io.output(0, x.elementType, [x.shape[0], channels] + image)
        guard y.count > 0 else { return }
        if x.elementType == .float32 {
            accumulate(Float.self, x, y, axes, channels: channels)
        } else {
            accumulate(Double.self, x, y, axes, channels: channels)
        }
    }

    private func accumulate<T: BinaryFloatingPoint>(
        _: T.Type, _ x: Tensor, _ y: Tensor, _ axes: [AxisWindow], channels: Int
    ) {
        let rank = axes.count
        let source = x.elements(as: T.self), target = y.mutableElements(as: T.self)
        for i in target.indices { target[i] = 0 }
        let (blockVolume, blocks, plane) = (axes.tapVolume, axes.outputVolume, axes.inputVolume)
        var tap = [Int](repeating: 0, count: rank), at = [Int](repeating: 0, count: rank)
        for n in 0..<x.shape[0] {
            for c in 0..<channels {
                for offset in 0..<blockVolume {
                    var rest = offset
                    for d in stride(from: rank - 1, through: 0, by: -1) { tap[d] = rest % axes[d].kernel; rest /= axes[d].kernel }
                    let row = ((n * channels + c) * blockVolume + offset) * blocks
                    for position in 0..<blocks {
                        var rest = position, pixel = 0, inside = true
                        for d in stride(from: rank - 1, through: 0, by: -1) {
                            let axis = axes[d]
                            at[d] = (rest % axis.output) * axis.stride - axis.padBegin + tap[d] * axis.dilation
                            rest /= axis.output
                            inside = inside && at[d] >= 0 && at[d] < axis.input
                        }
                        guard inside else { continue }
                        for d in 0..<rank { pixel = pixel * axes[d].input + at[d] }
                        target[(n * channels + c) * plane + pixel] += source[row + position]
                    }
                }
            }
        }
    }
}
