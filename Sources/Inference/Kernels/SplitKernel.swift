/// Split: the input cut along `axis` into the node's outputs. The sizes come from the `split` input (opset ≥ 13),
/// the `split` attribute (opsets 2–12; opset 1 also takes the input), or else equal parts: with `num_outputs`
/// (opset ≥ 18) the last part may be smaller, without it the axis must divide evenly. Any element type.
struct SplitKernel: Kernel {
    let axis: Int
    let attributeSplit: [Int]?
    let numOutputs: Int?
    let splitFromInput: Bool

    init(_ node: NodeDefinition) throws {
        axis = try node.attributes.int("axis", default: 0)
        numOutputs = node.opsetVersion >= 18 ? try node.attributes.int("num_outputs") : nil
        if node.opsetVersion >= 13 {
            try node.expectInputs(1, 2)
            attributeSplit = nil
            splitFromInput = true
        } else {
            try node.expectInputs(1, node.opsetVersion < 2 ? 2 : 1)
            attributeSplit = try node.attributes.ints("split")
            splitFromInput = node.opsetVersion < 2
        }
    }

    func run(_ io: NodeIO) throws {
        let x = try io.requiredInput(0)
        let axis = try normalizedAxis(self.axis, rank: x.rank)
        let dim = x.shape[axis]
        let outputs = io.outputIndexes.count
        var sizes: [Int]
        if let given = try splitFromInput ? io.input(1).map({ try $0.integerList("Split split") }) : nil {
            sizes = given
        } else if let attributeSplit {
            sizes = attributeSplit
        } else if let numOutputs {
            guard numOutputs == outputs, numOutputs > 0 else {
                throw InferenceError.invalidInput("Split num_outputs \(numOutputs) but \(outputs) outputs")
            }
            let part = (dim + numOutputs - 1) / numOutputs
            sizes = (0..<numOutputs).map { Swift.max(0, Swift.min(part, dim - $0 * part)) }
        } else {
            guard dim % outputs == 0 else {
                throw InferenceError.invalidInput("Split cannot cut axis \(axis) of \(x.shape) into \(outputs) equal parts")
            }
            sizes = [Int](repeating: dim / outputs, count: outputs)
        }
        guard sizes.count == outputs, sizes.allSatisfy({ $0 >= 0 }), sizes.reduce(0, +) == dim else {
            throw InferenceError.invalidInput("Split sizes \(sizes) do not cut axis \(axis) of \(x.shape) into \(outputs) outputs")
        }
        try Self.cut(x, axis: axis, sizes: sizes) { position, shape throws(InferenceError) in
            try io.output(position, x.elementType, shape)
        }
    }

    /// Copies consecutive parts of `sizes` along `axis` of `x` (the sizes sum to the axis) into the tensors `output`
    /// gives for each part's position and shape: Split's and SplitToSequence's loop.
    static func cut(
        _ x: Tensor, axis: Int, sizes: [Int], output: (Int, [Int]) throws(InferenceError) -> Tensor
    ) throws(InferenceError) {
        let strides = x.shape.strides
        var start = 0
        for (position, size) in sizes.enumerated() {
            var shape = x.shape
            shape[axis] = size
            let y = try output(position, shape)
            StridedCopy.copy(from: x, offset: start * strides[axis], strides: strides, shape: shape, to: y)
            start += size
        }
    }
}
