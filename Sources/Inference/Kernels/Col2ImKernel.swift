/// Col2Im (opset 18): rebuilds images from their sliding blocks, the inverse of im2col, summing where blocks
/// overlap. Input [N, C · ∏block_shape, L] with `image_shape` and `block_shape` (int64, one size per spatial axis) as
/// inputs and `dilations`, `pads`, `strides` as attributes; L must be the number of block positions those give. Output
/// [N, C, image_shape...]; float types.
struct Col2ImKernel: Kernel {
    let strides: [Int]?
    let dilations: [Int]?
    let pads: [Int]?

    init(_ node: NodeDefinition) throws {
        try node.expectInputs(3)
        strides = try node.attributes.ints("strides")
        dilations = try node.attributes.ints("dilations")
        pads = try node.attributes.ints("pads")
        for (name, values, minimum) in [("strides", strides, 1), ("dilations", dilations, 1), ("pads", pads, 0)] {
            if let values, !values.allSatisfy({ $0 >= minimum && $0 <= WindowAttributes.attributeLimit }) {
                throw InferenceError.invalidModel("\(node.label): \(name) \(values) out of range")
            }
        }
    }

    func run(_ io: NodeIO) throws {
        let x = try io.requiredInput(0)
        guard let image = try io.requiredInput(1).integers(), let block = try io.requiredInput(2).integers(),
              !image.isEmpty, image.count == block.count, image.allSatisfy({ $0 >= 0 }), block.allSatisfy({ $0 >= 1 })
        else {
            throw InferenceError.invalidInput("Col2Im takes image_shape and block_shape: int64, one positive size per spatial axis each")
        }
        let rank = image.count
        for (name, values, count) in [("strides", strides, rank), ("dilations", dilations, rank), ("pads", pads, 2 * rank)] {
            if let values, values.count != count {
                throw InferenceError.invalidInput("Col2Im \(name) has \(values.count) values for \(rank) spatial axes")
            }
        }
        try block.validateShape()
        try image.validateShape()
        let blockVolume = block.reduce(1, *)
        guard x.rank == 3, x.shape[1] % blockVolume == 0, [.float32, .float64].contains(x.elementType) else {
            throw InferenceError.invalidInput("Col2Im takes float [N, C·\(blockVolume), L], got \(x.elementType) \(x.shape)")
        }
        // Block positions along each axis, as a convolution with this block would have outputs.
        var positions: [Int] = []
        for d in 0..<rank {
            let stride = strides?[d] ?? 1, dilation = dilations?[d] ?? 1
            let padded = image[d] + (pads?[d] ?? 0) + (pads?[rank + d] ?? 0)
            let (span, overflow) = (block[d] - 1).multipliedReportingOverflow(by: dilation)
            guard !overflow, padded - span - 1 >= 0 else {
                throw InferenceError.invalidInput("Col2Im block \(block) does not fit image \(image) with its pads")
            }
            positions.append((padded - span - 1) / stride + 1)
        }
        try positions.validateShape()
        guard positions.reduce(1, *) == x.shape[2] else {
            throw InferenceError.invalidInput("Col2Im input has \(x.shape[2]) blocks, image \(image) with block \(block) gives \(positions.reduce(1, *))")
        }
        let (batch, channels) = (x.shape[0], x.shape[1] / blockVolume)
        let y = try io.output(0, x.elementType, [batch, channels] + image)
        guard y.count > 0 else { return }
        if x.elementType == .float32 {
            accumulate(Float.self, x, y, image: image, block: block, positions: positions, channels: channels)
        } else {
            accumulate(Double.self, x, y, image: image, block: block, positions: positions, channels: channels)
        }
    }

    private func accumulate<T: BinaryFloatingPoint>(
        _: T.Type, _ x: Tensor, _ y: Tensor, image: [Int], block: [Int], positions: [Int], channels: Int
    ) {
        let rank = image.count
        let source = x.elements(as: T.self), target = y.mutableElements(as: T.self)
        for i in target.indices { target[i] = 0 }
        let (blockVolume, blocks, plane) = (block.reduce(1, *), positions.reduce(1, *), image.reduce(1, *))
        var tap = [Int](repeating: 0, count: rank), at = [Int](repeating: 0, count: rank)
        for n in 0..<x.shape[0] {
            for c in 0..<channels {
                for offset in 0..<blockVolume {
                    var rest = offset
                    for d in stride(from: rank - 1, through: 0, by: -1) { tap[d] = rest % block[d]; rest /= block[d] }
                    let row = ((n * channels + c) * blockVolume + offset) * blocks
                    for position in 0..<blocks {
                        var rest = position, pixel = 0, inside = true
                        for d in stride(from: rank - 1, through: 0, by: -1) {
                            at[d] = (rest % positions[d]) * (strides?[d] ?? 1) - (pads?[d] ?? 0) + tap[d] * (dilations?[d] ?? 1)
                            rest /= positions[d]
                            inside = inside && at[d] >= 0 && at[d] < image[d]
                        }
                        guard inside else { continue }
                        for d in 0..<rank { pixel = pixel * image[d] + at[d] }
                        target[(n * channels + c) * plane + pixel] += source[row + position]
                    }
                }
            }
        }
    }
}
