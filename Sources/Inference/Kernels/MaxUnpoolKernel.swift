/// MaxUnpool (opsets 9 and 11): the values of X placed at the flat positions `I` (MaxPool's indices) of a zero
/// tensor of the unpooled shape, (in − 1) · stride + kernel − pad begin − pad end per spatial axis; with
/// `output_shape` (at least that on every axis) the unpooled tensor sits at the start of each axis of a zero output of
/// that shape, as in the ONNX reference. Any element type; an index outside the unpooled tensor is refused.
struct MaxUnpoolKernel: Kernel {
    let window: WindowAttributes

    init(_ node: NodeDefinition) throws {
        try node.expectInputs(2, 3)
        window = try WindowAttributes(node, readsDilations: false, readsCeilMode: false, requiresKernelShape: true)
        guard window.autoPad == .notSet else {
            throw InferenceError.invalidModel("\(node.label): MaxUnpool has no auto_pad")
        }
    }

    func run(_ io: NodeIO) throws {
        let x = try io.requiredInput(0)
        let indices = try io.requiredInput(1)
        guard x.rank >= 3, indices.elementType == .int64, indices.shape == x.shape else {
            throw InferenceError.invalidInput("MaxUnpool takes X [N, C, D1, ...] and int64 indices of its shape, got \(x.shape) and \(indices.elementType) \(indices.shape)")
        }
        let spatial = x.rank - 2
        let kernel = window.kernelShape ?? []
        guard kernel.count == spatial else {
            throw InferenceError.invalidInput("MaxUnpool kernel_shape \(kernel) does not fit \(spatial) spatial axes of \(x.shape)")
        }
        var inferred = Array(x.shape[..<2])
        for d in 0..<spatial {
            let stride = window.strides?[d] ?? 1
            let pads = (window.pads?[d] ?? 0) + (window.pads?[spatial + d] ?? 0)
            let (scaled, overflow) = (x.shape[d + 2] - 1).multipliedReportingOverflow(by: stride)
            let size = scaled + kernel[d] - pads
            guard !overflow, size >= 0 else {
                throw InferenceError.invalidInput("MaxUnpool of \(x.shape) with kernel \(kernel) has no output size")
            }
            inferred.append(size)
        }
        try inferred.validateShape()
        var shape = inferred
        if let given = io.input(2) {
            guard let dims = given.integers(), dims.count == x.rank, zip(dims, inferred).allSatisfy({ $0 >= $1 }),
                  dims[0] == x.shape[0], dims[1] == x.shape[1]
            else {
                throw InferenceError.invalidInput("MaxUnpool output_shape must be \(x.rank) sizes, each at least the unpooled \(inferred)")
            }
            shape = dims
        }
        try shape.validateShape()
        let y = try io.output(0, x.elementType, shape)
        let size = x.elementType.byteSize
        y.storage.pointer.initializeMemory(as: UInt8.self, repeating: 0, count: y.byteCount)
        let positions = indices.elements(as: Int64.self)
        let volume = inferred.reduce(1, *)
        for i in 0..<x.count {
            var at = Int(positions[i])
            guard at >= 0 && at < volume else {
                throw InferenceError.invalidInput("MaxUnpool index \(positions[i]) is outside the unpooled \(inferred)")
            }
            if shape != inferred {
                // The same element of the unpooled tensor, at the start of each axis of the larger output.
                var rest = at, place = 0, scale = 1
                for d in stride(from: x.rank - 1, through: 0, by: -1) {
                    place += (rest % inferred[d]) * scale
                    rest /= inferred[d]
                    scale *= shape[d]
                }
                at = place
            }
            (y.storage.pointer + at * size).copyMemory(from: x.storage.pointer + i * size, byteCount: size)
        }
    }
}
