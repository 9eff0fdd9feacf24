/// ConvTranspose on float32 [N, C, D1, ...] with weights [C, M / group, k1, ...] and optional bias [M], over any
/// number of spatial axes: per image and group, one GEMM (Wᵀ · X) gives every kernel tap's contribution, which is
/// then added into the output at stride · input − pad + dilation · tap.
///
/// The output size is `output_shape` when given (pads then follow from it, `auto_pad` choosing where the odd one goes),
/// else stride · (in − 1) + output_padding + dilation · (k − 1) + 1 − pads (SAME_* padding: in · stride).
struct ConvTransposeKernel: Kernel, DeclaresElementTypes {
    let autoPad: AutoPad
    let group: Int
    let kernelShape: [Int]?
    let strides: [Int]?
    let dilations: [Int]?
    let pads: [Int]?
    let outputPadding: [Int]?
    let outputShape: [Int]?

    init(_ node: NodeDefinition) throws {
        try node.expectInputs(2, 3)
        let attributes = node.attributes
        let name = try attributes.string("auto_pad") ?? "NOTSET"
        guard let autoPad = AutoPad(rawValue: name) else { throw InferenceError.invalidModel("\(node.label): auto_pad '\(name)'") }
        self.autoPad = autoPad
        group = try attributes.int("group", default: 1)
        guard group >= 1 else { throw InferenceError.invalidModel("\(node.label): group \(group)") }
        kernelShape = try attributes.ints("kernel_shape")
        strides = try attributes.ints("strides")
        dilations = try attributes.ints("dilations")
        pads = try attributes.ints("pads")
        outputPadding = try attributes.ints("output_padding")
        outputShape = try attributes.ints("output_shape")
        let limit = WindowAttributes.attributeLimit
        for values in [kernelShape, strides, dilations, pads, outputPadding, outputShape] {
            if let values, !values.allSatisfy({ $0 >= 0 && $0 <= limit }) {
                throw InferenceError.invalidModel("\(node.label): window attribute \(values) out of range 0...\(limit)")
            }
        }
    }

    func run(_ io: NodeIO) throws {
        let x = try io.requiredInput(0), w = try io.requiredInput(1)
        let bias = io.input(2)
        try checkTypes([x, w, bias], "ConvTranspose")
        let rank = x.rank - 2
        guard rank >= 1, w.rank == x.rank, w.shape[0] == x.shape[1], x.shape[1] % group == 0 else {
            throw InferenceError.invalidInput("ConvTranspose input \(x.shape) and weights \(w.shape) do not fit (group \(group))")
        }
        let kernel = Array(w.shape[2...])
        if let kernelShape, kernelShape != kernel {
            throw InferenceError.invalidInput("ConvTranspose kernel_shape \(kernelShape) differs from the weights' \(kernel)")
        }
        func perAxis(_ values: [Int]?, _ fallback: Int, _ name: String, count: Int = rank) throws -> [Int] {
            guard let values else { return [Int](repeating: fallback, count: count) }
            guard values.count == count else {
                throw InferenceError.invalidInput("ConvTranspose \(name) \(values) does not fit \(rank) spatial axes")
            }
            return values
        }
        let stride = try perAxis(strides, 1, "strides"), dilation = try perAxis(dilations, 1, "dilations")
        let extraPadding = try perAxis(outputPadding, 0, "output_padding")
        var padding = try perAxis(pads, 0, "pads", count: 2 * rank)
        let input = Array(x.shape[2...])
        var spatial = [Int](repeating: 0, count: rank)
        let wanted = outputShape.map { Array($0.suffix(rank)) }
        for d in 0..<rank {
            let natural = stride[d] * (input[d] - 1) + extraPadding[d] + (kernel[d] - 1) * dilation[d] + 1
            if wanted != nil || autoPad == .sameUpper || autoPad == .sameLower {
                let target = wanted?[d] ?? input[d] * stride[d]
                // Floor division: an output_shape past the natural size gives a negative total padding.
                let total = natural - target
                let half = total >= 0 ? total / 2 : -((-total + 1) / 2)
                let (small, large) = (half, total - half)
                (padding[d], padding[d + rank]) = autoPad == .sameUpper ? (small, large) : (large, small)
                spatial[d] = target
            } else {
                spatial[d] = natural - (autoPad == .valid ? 0 : padding[d] + padding[d + rank])
                if autoPad == .valid { padding[d] = 0 }
            }
        }
        let (batch, inChannels) = (x.shape[0], x.shape[1])
        let outChannels = w.shape[1] * group
        if let bias, bias.shape != [outChannels] {
            throw InferenceError.invalidInput("ConvTranspose bias must be [\(outChannels)], got \(bias.shape)")
        }
        let shape = [batch, outChannels] + spatial
        try shape.validateShape()
        guard spatial.allSatisfy({ $0 >= 0 }) else { throw InferenceError.invalidInput("ConvTranspose output \(shape) is negative") }
        let y = try io.output(0, .float32, shape)
        let out = y.mutableElements(as: Float.self)
        out.update(repeating: 0)
        guard y.count > 0 else { return }
        let (inGroup, outGroup) = (inChannels / group, outChannels / group)
        let taps = kernel.reduce(1, *), positions = input.reduce(1, *), outPositions = spatial.reduce(1, *)
        let rows = outGroup * taps
        let columns = try io.scratch(floats: rows * positions)
        let (src, weights) = (x.elements(as: Float.self).baseAddress!, w.elements(as: Float.self).baseAddress!)
        let outStrides = spatial.strides
        for n in 0..<batch {
            for g in 0..<group {
                if inGroup > 0 && positions > 0 && rows > 0 {
                    BLAS.sgemm(
                        transposeA: true, transposeB: false, m: rows, n: positions, k: inGroup, alpha: 1,
                        a: weights + g * inGroup * rows, lda: rows, b: src + (n * inChannels + g * inGroup) * positions,
                        ldb: positions, beta: 0, c: columns, ldc: positions)
                } else {
                    columns.update(repeating: 0, count: rows * positions)
                }
                let base = out.baseAddress! + (n * outChannels + g * outGroup) * outPositions
                for row in 0..<rows {
                    let (channel, tap) = (row / taps, row % taps)
                    // Per axis: where each input coordinate lands for this tap (-1 outside the output).
                    var rest = tap
                    var targets: [[Int]] = Array(repeating: [], count: rank)
                    for d in (0..<rank).reversed() {
                        let k = rest % kernel[d]
                        rest /= kernel[d]
                        targets[d] = (0..<input[d]).map { i in
                            let q = i * stride[d] - padding[d] + k * dilation[d]
                            return q >= 0 && q < spatial[d] ? q * outStrides[d] : -1
                        }
                    }
                    let from = columns + row * positions, to = base + channel * outPositions
                    var counter = [Int](repeating: 0, count: rank)
                    for p in 0..<positions {
                        var offset = 0
                        for d in 0..<rank {
                            let t = targets[d][counter[d]]
                            if t < 0 { offset = -1; break }
                            offset += t
                        }
                        if offset >= 0 { to[offset] += from[p] }
                        var d = rank - 1
                        while d >= 0 {
                            counter[d] += 1
                            if counter[d] < input[d] { break }
                            counter[d] = 0
                            d -= 1
                        }
                    }
                }
            }
        }
        if let bias {
            let b = bias.elements(as: Float.self)
            for n in 0..<batch {
                for c in 0..<outChannels {
                    let plane = out.baseAddress! + (n * outChannels + c) * outPositions
                    for i in 0..<outPositions { plane[i] += b[c] }
                }
            }
        }
    }
}

extension ConvTransposeKernel {
    /// X, W and B: float32.
    func acceptedTypes(input position: Int) -> Set<ElementType>? { DeclaredTypes.float32 }
}
