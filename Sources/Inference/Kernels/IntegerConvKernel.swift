import COpenBLAS

/// ConvInteger and QLinearConv: a convolution of int8/uint8 tensors with zero points, over any number of spatial
/// axes, with Conv's attributes (strides, pads, auto_pad, dilations, group, kernel_shape).
///
/// ConvInteger returns the exact int32 sums of (x − x_zero_point)·(w − w_zero_point). QLinearConv adds the int32 bias
/// to those sums and requantizes: saturate(round_half_even(sum · (x_scale · w_scale / y_scale)) + y_zero_point), the
/// scale factor computed in float32 as the ONNX reference does; `w_scale` and `w_zero_point` may hold one value per
/// output map. Per image and group the zero-point-shifted input is gathered into columns (Conv's im2col, so padding
/// reads as zero after the shift) and multiplied with sgemm when no sum can reach 2^24 (then float32 is exact),
/// otherwise in double precision, where every sum of 8-bit products is exact. Not an int8 GEMM: onnxruntime's
/// VNNI/AVX2 u8·s8 kernels are several times faster.
struct IntegerConvKernel: Kernel {
    /// QLinearConv (true) or ConvInteger.
    let requantizes: Bool
    let window: WindowAttributes
    let group: Int
    var opType: String { requantizes ? "QLinearConv" : "ConvInteger" }

    init(requantizes: Bool, _ node: NodeDefinition) throws {
        if requantizes { try node.expectInputs(8, 9) } else { try node.expectInputs(2, 4) }
        self.requantizes = requantizes
        window = try WindowAttributes(node, readsDilations: true, readsCeilMode: false, requiresKernelShape: false)
        group = try node.attributes.int("group", default: 1)
        guard group >= 1 && group <= [Int].maximumShapeVolume else {
            throw InferenceError.invalidModel("\(node.label): group \(group) must be positive")
        }
    }

    /// The inputs by meaning, whichever operator this is.
    private struct Operands {
        let x: Tensor, w: Tensor
        let xZero: Tensor?, wZero: Tensor?
        /// QLinearConv only: x_scale, w_scale, y_scale, y_zero_point and the bias.
        let xScale: Tensor?, wScale: Tensor?, yScale: Tensor?, yZero: Tensor?, bias: Tensor?
    }

    private func operands(_ io: NodeIO) throws -> Operands {
        if requantizes {
            return Operands(
                x: try io.requiredInput(0), w: try io.requiredInput(3), xZero: io.input(2), wZero: io.input(5),
                xScale: try io.requiredInput(1), wScale: try io.requiredInput(4), yScale: try io.requiredInput(6),
                yZero: io.input(7), bias: io.input(8))
        }
        return Operands(
            x: try io.requiredInput(0), w: try io.requiredInput(1), xZero: io.input(2), wZero: io.input(3),
            xScale: nil, wScale: nil, yScale: nil, yZero: nil, bias: nil)
    }

    func run(_ io: NodeIO) throws {
        let o = try operands(io)
        let (x, w) = (o.x, o.w)
        guard QuantizedType.range(x.elementType) != nil, QuantizedType.range(w.elementType) != nil else {
            throw InferenceError.invalidInput("\(opType) takes int8/uint8 X and W, got \(x.elementType) and \(w.elementType)")
        }
        guard x.rank >= 3, w.rank == x.rank else {
            throw InferenceError.invalidInput("\(opType) takes X [N, C, D1, ...] and W [M, C/group, k1, ...], got \(x.shape) and \(w.shape)")
        }
        let (batch, channels, maps, groupChannels) = (x.shape[0], x.shape[1], w.shape[0], w.shape[1])
        guard groupChannels * group == channels, maps % group == 0 else {
            throw InferenceError.invalidInput("\(opType) weight \(w.shape) with group \(group) does not fit \(channels) input channels")
        }
        let kernel = Array(w.shape[2...])
        if let declared = window.kernelShape, declared != kernel {
            throw InferenceError.invalidInput("\(opType) kernel_shape \(declared) differs from the weight's \(kernel)")
        }
        try check(o.xZero, like: x, count: 1, "x_zero_point")
        try check(o.wZero, like: w, count: maps, "w_zero_point")
        let factors = try requantization(o, maps: maps)
        if let bias = o.bias, bias.elementType != .int32 || bias.shape != [maps] {
            throw InferenceError.invalidInput("QLinearConv bias must be int32 [\(maps)], got \(bias.elementType) \(bias.shape)")
        }
        let axes = try window.axes(spatialShape: Array(x.shape[2...]), kernel: kernel)
        let (outer, rows, cols) = axes.planeSplit
        let g = ConvKernel.Geometry(
            channels: channels, maps: maps, groupChannels: groupChannels, outer: Array(outer), rows: rows, cols: cols)
        let outputType = requantizes ? (o.yZero?.elementType ?? x.elementType) : .int32
        let y = try io.output(0, outputType, [batch, maps] + axes.map(\.output))
        guard y.count > 0 else { return }

        let xZero = o.xZero.map { QuantizedType.value($0, 0) } ?? 0
        let mapsPerGroup = maps / group
        for part in [[maps, g.depth], [channels, g.inputPlane], [g.depth, g.plane], [mapsPerGroup, g.plane]] {
            try part.validateShape()
        }
        guard [mapsPerGroup, g.depth, g.plane].allSatisfy({ $0 <= Int(Int32.max) }) else {
            throw InferenceError.invalidInput("\(opType) of \(x.shape) by \(w.shape) is too large for one matrix product")
        }
        // Session scratch (counted against its memory limit), in floats: the shifted weights [maps, depth], one
        // shifted image, one group's columns and sums, then room for the double-precision product if one may be
        // needed (its weights, columns and sums as doubles, two floats each, after one float of alignment slack).
        let sizes = (weights: maps * g.depth, image: channels * g.inputPlane, columns: g.depth * g.plane,
                     sums: mapsPerGroup * g.plane)
        let floats = sizes.weights + sizes.image + sizes.columns + sizes.sums
        let wZeros = (0..<maps).map { map in o.wZero.map { QuantizedType.value($0, $0.count == 1 ? 0 : map) } ?? 0 }
        func exactInFloat(_ xBound: Float, _ wBound: Float) -> Bool {
            QuantizedType.exactInFloat(depth: g.depth, xBound, wBound)
        }
        let groupWeightBound = (0..<group).map { gr in
            let maps = (gr * mapsPerGroup)..<((gr + 1) * mapsPerGroup)
            return maps.reduce(Float(0)) { bound, map in
                (0..<g.depth).reduce(bound) { Swift.max($0, Float(abs(QuantizedType.value(w, map * g.depth + $1) - wZeros[map]))) }
            }
        }
        let maybeDouble = !exactInFloat(255, groupWeightBound.max() ?? 0)
        let doubles = maybeDouble ? mapsPerGroup * g.depth + sizes.columns + sizes.sums : 0
        let region = try io.scratch(floats: floats + (maybeDouble ? 1 + 2 * doubles : 0))
        for map in 0..<maps {
            QuantizedType.shifted(w, from: map * g.depth, count: g.depth, by: wZeros[map], into: region + map * g.depth)
        }
        let image = region + sizes.weights, columns = image + sizes.image, sums = columns + sizes.columns
        // Safe: inside the block and 8-byte aligned (the block is, and the offset is rounded up to an even float
        // count); those floats are only used as doubles from here on.
        let wide = maybeDouble
            ? UnsafeMutableRawPointer(region + ((floats + 1) & ~1)).bindMemory(to: Double.self, capacity: doubles) : nil
        let store = QuantizedType.writer(y)
        let biases = o.bias?.elements(as: Int32.self)
        for n in 0..<batch {
            // Shifted by the zero point, so the columns' padding (zeros) adds nothing, as a padded x_zero_point would.
            QuantizedType.shifted(x, from: n * sizes.image, count: sizes.image, by: xZero, into: image)
            let imageBound = UnsafeBufferPointer(start: image, count: sizes.image).reduce(0) { Swift.max($0, abs($1)) }
            for gr in 0..<group {
                var exact: UnsafeMutablePointer<Double>?
                if g.depth == 0 {
                    sums.update(repeating: 0, count: sizes.sums)
                } else {
                    ConvKernel.im2col(
                        input: image + gr * groupChannels * g.inputPlane, channels: groupChannels, geometry: g,
                        columns: columns)
                    let groupWeights = region + gr * mapsPerGroup * g.depth
                    if exactInFloat(imageBound, groupWeightBound[gr]) {
                        BLAS.sgemm(
                            transposeA: false, transposeB: false, m: mapsPerGroup, n: g.plane, k: g.depth, alpha: 1,
                            a: groupWeights, lda: g.depth, b: columns, ldb: g.plane, beta: 0, c: sums, ldc: g.plane)
                    } else {
                        // Reserved above: a bound past 2^24 with this image's max|x| ≤ 255 is past it with 255 too.
                        guard let wide else { throw InferenceError.execution(node: opType, message: "no double-precision scratch") }
                        let (a, b, c) = (wide, wide + mapsPerGroup * g.depth, wide + mapsPerGroup * g.depth + sizes.columns)
                        for i in 0..<(mapsPerGroup * g.depth) { a[i] = Double(groupWeights[i]) }
                        for i in 0..<sizes.columns { b[i] = Double(columns[i]) }
                        cblas_dgemm(
                            CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(mapsPerGroup), Int32(g.plane),
                            Int32(g.depth), 1, a, Int32(g.depth), b, Int32(g.plane), 0, c, Int32(g.plane))
                        exact = c
                    }
                }
                for local in 0..<mapsPerGroup {
                    let map = gr * mapsPerGroup + local
                    let base = (n * maps + map) * g.plane
                    let bias = biases.map { Double($0[map]) } ?? 0
                    for i in 0..<g.plane {
                        let at = local * g.plane + i
                        let sum = (exact?[at] ?? Double(sums[at])) + bias
                        if let factors {
                            store(base + i, QuantizedType.requantize(
                                sum, factor: factors.scale[map], zero: factors.zero, to: outputType))
                        } else {
                            store(base + i, Int32(clamping: Int64(sum)))
                        }
                    }
                }
            }
        }
    }

    /// A zero point, if given, is of its tensor's type and holds `count` values or one.
    private func check(_ zero: Tensor?, like tensor: Tensor, count: Int, _ name: String) throws {
        guard let zero else { return }
        guard zero.elementType == tensor.elementType, zero.rank <= 1, zero.count == 1 || zero.count == count else {
            throw InferenceError.invalidInput(
                "\(opType) \(name) must be \(tensor.elementType), one value\(count > 1 ? " or \(count)" : ""), got \(zero.elementType) \(zero.shape)")
        }
    }

    /// QLinearConv's per-map factor x_scale · w_scale / y_scale (float32) and output zero point; nil for ConvInteger.
    private func requantization(_ o: Operands, maps: Int) throws -> (scale: [Float], zero: Double)? {
        guard requantizes, let xScale = o.xScale, let wScale = o.wScale, let yScale = o.yScale else { return nil }
        guard [xScale, wScale, yScale].allSatisfy({ $0.elementType == .float32 && $0.rank <= 1 }),
              xScale.count == 1, yScale.count == 1, wScale.count == 1 || wScale.count == maps
        else {
            throw InferenceError.invalidInput("QLinearConv scales must be float32: x_scale and y_scale one value, w_scale one or one per output map (\(maps))")
        }
        if let yZero = o.yZero, yZero.count != 1 || yZero.rank > 1 || QuantizedType.range(yZero.elementType) == nil {
            throw InferenceError.invalidInput("QLinearConv y_zero_point must be one int8 or uint8")
        }
        let (xs, ys) = (xScale.elements(as: Float.self)[0], yScale.elements(as: Float.self)[0])
        let ws = wScale.elements(as: Float.self)
        let scale = (0..<maps).map { xs * ws[wScale.count == 1 ? 0 : $0] / ys }
        return (scale, o.yZero.map { Double(QuantizedType.value($0, 0)) } ?? 0)
    }
}
