/// Conv over any number of spatial axes on float32: strides, pads, auto_pad, dilations, group, optional bias, fused
/// activation and an optional fused MaxPool.
///
/// Per image and group: im2col into session scratch, then one `cblas_sgemm` of the group's weights [M/g, C/g·kH·kW]
/// by the columns [C/g·kH·kW, outH·outW] (with more than two spatial axes the leading ones join both: C/g·kD·kH·kW
/// by outD·outH·outW). A 1×1 kernel with stride 1 and no padding multiplies the input directly;
/// 1-D and 2-D depthwise convolutions (one input channel per group) run a direct loop instead of a one-row GEMM; convolutions
/// with few taps per output (the first layer of an image model) run `SmallDepthConv`. With a fused MaxPool each
/// image's maps are computed into scratch (or registers) and pooled there, so the full-size convolution output is
/// never written.
struct ConvKernel: ActivationFusing, DeclaresElementTypes {
    let window: WindowAttributes
    let group: Int
    var activation: Activation?
    /// The MaxPool reading this node's output (after the activation), when the graph lets them fuse.
    var pool: MaxPoolKernel?
    /// W and B prepared at load (a BatchNormalization folded in); the node then reads only X.
    var heldWeights: (w: Tensor, bias: Tensor?)?

    init(_ node: NodeDefinition) throws {
        try node.expectInputs(2, 3)
        window = try WindowAttributes(node, readsDilations: true, readsCeilMode: false, requiresKernelShape: false)
        group = try node.attributes.int("group", default: 1)
        guard group >= 1 && group <= [Int].maximumShapeVolume else {
            throw InferenceError.invalidModel("\(node.label): group \(group) must be positive")
        }
    }

    /// As `ActivationFusing`'s, but not after a MaxPool: the activation comes before the pooling.
    func fusing(_ activation: Activation) -> Kernel? {
        guard self.activation == nil, pool == nil else { return nil }
        var fused = self
        fused.activation = activation
        return fused
    }

    /// This convolution followed by `pool` (which must not produce indices), or nil when one is already fused.
    func fusing(_ pool: MaxPoolKernel) -> Kernel? {
        guard self.pool == nil else { return nil }
        var fused = self
        fused.pool = pool
        return fused
    }

    func run(_ io: NodeIO) throws {
        let x = try io.requiredInput(0)
        let w = try heldWeights?.w ?? io.requiredInput(1)
        let bias = heldWeights.map(\.bias) ?? io.input(2)
        try checkType(x, at: 0, "Conv")
        try checkType(w, at: 1, "Conv")
        if let bias { try checkType(bias, at: 2, "Conv") }
        guard x.rank >= 3 else {
            throw InferenceError.invalidInput("Conv takes [N, C, D1, ...] with a spatial axis, got \(x.shape)")
        }
        guard w.rank == x.rank else {
            throw InferenceError.invalidInput("Conv weight \(w.shape) does not match input \(x.shape)")
        }
        let (batch, channels) = (x.shape[0], x.shape[1])
        let (maps, groupChannels) = (w.shape[0], w.shape[1])
        guard groupChannels * group == channels, maps % group == 0 else {
            throw InferenceError.invalidInput(
                "Conv weight \(w.shape) with group \(group) does not fit \(channels) input channels")
        }
        let kernel = Array(w.shape[2...])
        if let declared = window.kernelShape, declared != kernel {
            throw InferenceError.invalidInput("Conv kernel_shape \(declared) differs from the weight's \(kernel)")
        }
        if let bias, bias.shape != [maps] {
            throw InferenceError.invalidInput("Conv bias has shape \(bias.shape), needs [\(maps)]")
        }
        let axes = try window.axes(spatialShape: Array(x.shape[2...]), kernel: kernel)
        let (outer, rows, cols) = axes.planeSplit
        let poolAxes = try pool.map { pool throws(InferenceError) in try pool.windows(spatialShape: axes.map(\.output)) }
        let (_, outRows, outCols) = (poolAxes ?? axes).planeSplit
        let y = try io.output(0, .float32, [batch, maps] + (poolAxes ?? axes).map(\.output))
        guard y.count > 0 else { return }

        let geometry = Geometry(
            channels: channels, maps: maps, groupChannels: groupChannels, outer: Array(outer), rows: rows, cols: cols)
        // The pooling windows as the 2-D paths take them; nil with more spatial axes, which pool through a grid.
        let pooled = poolAxes.flatMap { $0.count <= 2 ? (height: outRows, width: outCols) : nil }
        let poolGrid = poolAxes.flatMap { $0.count > 2 ? WindowGrid($0) : nil }
        if geometry.outer.isEmpty && SmallDepthConv.applies(geometry, group: group, pool: pooled) {
            let direct = SmallDepthConv(geometry: geometry, activation: activation, pool: pooled)
            return try run(direct, x, w, bias, y, io)
        }
        let method = geometry.method(group: group)
        let columnsSize = method == .im2col ? geometry.depth * geometry.plane : 0
        let stagingSize = pool == nil ? 0 : maps * geometry.plane
        let outPlane = (poolAxes ?? axes).outputVolume
        let parts = Parallelism.parts(batch, grain: 1)
        try [columnsSize + stagingSize, parts].validateShape()
        let scratch = columnsSize + stagingSize > 0 ? try io.scratch(floats: parts * (columnsSize + stagingSize)) : nil
        let src = x.elements(as: Float.self).baseAddress!
        let weights = w.elements(as: Float.self).baseAddress!
        let dst = y.mutableElements(as: Float.self).baseAddress!
        let biasPointer = bias?.elements(as: Float.self).baseAddress

        // With several images and threads, each thread takes whole images (its own scratch, products on one
        // thread); a single image splits its products instead.
        Parallelism.forEachChunk(batch, parts: parts) { part, images in
            let columns = scratch.map { $0 + part * (columnsSize + stagingSize) }
            let staging = stagingSize > 0 ? columns.map { $0 + columnsSize } : nil
            for image in images {
                let out = staging ?? dst + image * maps * geometry.plane
                convolve(
                    image: src + image * channels * geometry.inputPlane, weights: weights, into: out,
                    columns: columns, method: method, geometry: geometry, serial: parts > 1)
                // Bias and activation while the image's output is still in cache, then the pooling.
                finish(out, maps: maps, plane: geometry.plane, bias: biasPointer)
                if let pool, let staging, let poolGrid {
                    pool.poolWindows(UnsafePointer(staging), dst + image * maps * outPlane, nil, 0..<maps, poolGrid)
                } else if let pool, let staging {
                    pool.poolValues(
                        UnsafePointer(staging), dst + image * maps * outPlane, 0..<maps,
                        inputEnd: staging + maps * geometry.plane, outRows, outCols)
                }
            }
        }
    }

    /// The small-depth path: weights packed once per run, then whole images per thread.
    private func run(
        _ direct: SmallDepthConv, _ x: Tensor, _ w: Tensor, _ bias: Tensor?, _ y: Tensor, _ io: NodeIO
    ) throws {
        let g = direct.geometry
        let batch = x.shape[0]
        let parts = Parallelism.parts(batch, grain: 1)
        let packedSize = g.depth * g.maps
        try [direct.imageScratch, parts].validateShape()
        let scratch = try io.scratch(floats: packedSize + parts * direct.imageScratch)
        direct.pack(w.elements(as: Float.self).baseAddress!, into: scratch)
        let src = x.elements(as: Float.self).baseAddress!
        let dst = y.mutableElements(as: Float.self).baseAddress!
        let biasPointer = bias?.elements(as: Float.self).baseAddress
        let outImage = y.count / batch
        withUnsafeTemporaryAllocation(of: Int.self, capacity: g.depth) { offsets in
            direct.tapOffsets(into: offsets.baseAddress!)
            Parallelism.forEachChunk(batch, parts: parts) { part, images in
                let padded = direct.imageScratch > 0 ? scratch + packedSize + part * direct.imageScratch : nil
                for image in images {
                    direct.run(
                        image: src + image * g.channels * g.inputPlane, packed: scratch,
                        offsets: offsets.baseAddress!, bias: biasPointer, padded: padded, output: dst + image * outImage)
                }
            }
        }
    }

    /// The sizes one image's convolution works with.
    struct Geometry {
        let channels: Int, maps: Int, groupChannels: Int
        /// The spatial axes before the last two (a 3-D convolution's depth, …); empty for 1-D and 2-D.
        let outer: [AxisWindow]
        let rows: AxisWindow, cols: AxisWindow
        let plane: Int, inputPlane: Int, taps: Int

        init(channels: Int, maps: Int, groupChannels: Int, outer: [AxisWindow] = [], rows: AxisWindow, cols: AxisWindow) {
            (self.channels, self.maps, self.groupChannels) = (channels, maps, groupChannels)
            (self.outer, self.rows, self.cols) = (outer, rows, cols)
            plane = outer.outputVolume * rows.output * cols.output
            inputPlane = outer.inputVolume * rows.input * cols.input
            taps = outer.tapVolume * rows.kernel * cols.kernel
        }

        /// Rows of one group's columns matrix.
        var depth: Int { groupChannels * taps }

        func method(group: Int) -> Method {
            if depth == 0 { return .biasOnly }
            if groupChannels == 1 && group > 1 && outer.isEmpty { return .depthwise }
            return rows.isIdentity && cols.isIdentity && outer.allSatisfy(\.isIdentity) ? .direct : .im2col
        }
    }

    enum Method {
        /// No input channels: the output is the bias alone.
        case biasOnly
        /// One input channel per group: a direct loop per map.
        case depthwise
        /// A 1×1 kernel at stride 1 without padding: the input is the columns matrix.
        case direct
        /// Columns gathered into scratch, then one product per group.
        case im2col
    }

    /// Writes one image's maps (before bias and activation) to `out`: [maps, plane].
    private func convolve(
        image: UnsafePointer<Float>, weights: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>,
        columns: UnsafeMutablePointer<Float>?, method: Method, geometry g: Geometry, serial: Bool
    ) {
        let mapsPerGroup = g.maps / group
        let product = serial ? BLAS.sgemmSerial : BLAS.sgemm
        switch method {
        case .biasOnly:
            out.update(repeating: 0, count: g.maps * g.plane)
        case .depthwise:
            for map in 0..<g.maps {
                Self.depthwise(
                    input: image + (map / mapsPerGroup) * g.inputPlane, weights: weights + map * g.taps,
                    output: out + map * g.plane, rows: g.rows, cols: g.cols)
            }
        case .direct, .im2col:
            for gr in 0..<group {
                let input = image + gr * g.groupChannels * g.inputPlane
                let matrix: UnsafePointer<Float>
                if method == .im2col, let columns {
                    Self.im2col(input: input, channels: g.groupChannels, geometry: g, columns: columns)
                    matrix = UnsafePointer(columns)
                } else {
                    matrix = input
                }
                product(
                    false, false, mapsPerGroup, g.plane, g.depth, 1, weights + gr * mapsPerGroup * g.depth, g.depth,
                    matrix, g.plane, 0, out + gr * mapsPerGroup * g.plane, g.plane)
            }
        }
    }

    /// Adds the bias per output map of one image and applies the fused activation, in one pass.
    private func finish(_ dst: UnsafeMutablePointer<Float>, maps: Int, plane: Int, bias: UnsafePointer<Float>?) {
        for map in 0..<maps {
            let out = dst + map * plane
            let b = bias?[map] ?? 0
            switch activation {
            case .relu?:
                for i in 0..<plane { out[i] = Swift.max(out[i] + b, 0) }
            case let other?:
                if b != 0 { for i in 0..<plane { out[i] += b } }
                other.apply(UnsafeMutableBufferPointer(start: out, count: plane))
            case nil:
                if b != 0 { for i in 0..<plane { out[i] += b } }
            }
        }
    }

    /// Writes the columns matrix [channels·kH·kW, outH·outW] of one image's group of channels; taps that fall in the
    /// padding are zero. With outer axes (a 3-D window's depth, …) each row is [outD·outH·outW] and the taps run over
    /// them too: for each outer tap and outer output position, the 2-D block of an input plane, or zeros.
    static func im2col(
        input: UnsafePointer<Float>, channels: Int, geometry g: Geometry, columns: UnsafeMutablePointer<Float>
    ) {
        let (rows, cols) = (g.rows, g.cols)
        let block = rows.output * cols.output
        let inputBlock = rows.input * cols.input
        let outerRank = g.outer.count
        var row = columns
        // Odometers over the outer taps and outer output positions; with no outer axes each runs once.
        var tap = [Int](repeating: 0, count: outerRank), position = [Int](repeating: 0, count: outerRank)
        for channel in 0..<channels {
            let image = input + channel * g.inputPlane
            repeat {
                for kh in 0..<rows.kernel {
                    let rowOffset = kh * rows.dilation - rows.padBegin
                    let validRows = rows.validOutputs(tapOffset: rowOffset)
                    for kw in 0..<cols.kernel {
                        repeat {
                            // The input plane this outer tap reads at this outer position, if inside the input.
                            var plane = 0, inside = true
                            for d in 0..<outerRank {
                                let axis = g.outer[d]
                                let at = position[d] * axis.stride - axis.padBegin + tap[d] * axis.dilation
                                inside = inside && at >= 0 && at < axis.input
                                plane = plane * axis.input + at
                            }
                            if inside {
                                im2colBlock(
                                    image + plane * inputBlock, rowOffset: rowOffset, validRows: validRows, kw: kw,
                                    rows: rows, cols: cols, row: row)
                            } else {
                                row.update(repeating: 0, count: block)
                            }
                            row += block
                        } while advance(&position, over: g.outer, \.output)
                    }
                }
            } while advance(&tap, over: g.outer, \.kernel)
        }
    }

    /// Steps a row-major odometer over `axes` (each digit below `limit` of its axis); false after the last value,
    /// leaving it at zero again.
    @inline(__always)
    private static func advance(_ digits: inout [Int], over axes: [AxisWindow], _ limit: KeyPath<AxisWindow, Int>) -> Bool {
        var d = digits.count - 1
        while d >= 0 {
            digits[d] += 1
            if digits[d] < axes[d][keyPath: limit] { return true }
            digits[d] = 0
            d -= 1
        }
        return false
    }

    /// One tap's row of the 2-D columns matrix: [outH·outW] values of `image` (one input plane) at tap (kh, kw),
    /// given as its row offset (kh · dilation − padBegin) and the output rows it reads inside the input.
    @inline(__always)
    private static func im2colBlock(
        _ image: UnsafePointer<Float>, rowOffset: Int, validRows: Range<Int>, kw: Int, rows: AxisWindow,
        cols: AxisWindow, row: UnsafeMutablePointer<Float>
    ) {
        let plane = rows.output * cols.output
        let colOffset = kw * cols.dilation - cols.padBegin
        let validCols = cols.validOutputs(tapOffset: colOffset)
        if validRows.isEmpty || validCols.isEmpty {
            row.update(repeating: 0, count: plane)
            return
        }
        if validRows.lowerBound > 0 {
            row.update(repeating: 0, count: validRows.lowerBound * cols.output)
        }
        for oh in validRows {
            let out = row + oh * cols.output
            let line = image + (oh * rows.stride + rowOffset) * cols.input
            if validCols.lowerBound > 0 { out.update(repeating: 0, count: validCols.lowerBound) }
            if cols.stride == 1 {
                VectorLoop.copy(
                    from: line + validCols.lowerBound + colOffset, to: out + validCols.lowerBound,
                    count: validCols.count)
            } else {
                for ow in validCols { out[ow] = line[ow * cols.stride + colOffset] }
            }
            if validCols.upperBound < cols.output {
                (out + validCols.upperBound).update(repeating: 0, count: cols.output - validCols.upperBound)
            }
        }
        if validRows.upperBound < rows.output {
            (row + validRows.upperBound * cols.output).update(
                repeating: 0, count: (rows.output - validRows.upperBound) * cols.output)
        }
    }

    /// One output map of a depthwise convolution: a single input channel convolved with its own kernel.
    static func depthwise(
        input: UnsafePointer<Float>, weights: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>,
        rows: AxisWindow, cols: AxisWindow
    ) {
        output.update(repeating: 0, count: rows.output * cols.output)
        for kh in 0..<rows.kernel {
            let rowOffset = kh * rows.dilation - rows.padBegin
            let validRows = rows.validOutputs(tapOffset: rowOffset)
            for kw in 0..<cols.kernel {
                let weight = weights[kh * cols.kernel + kw]
                let colOffset = kw * cols.dilation - cols.padBegin
                let validCols = cols.validOutputs(tapOffset: colOffset)
                guard !validCols.isEmpty else { continue }
                for oh in validRows {
                    let out = output + oh * cols.output
                    let line = input + (oh * rows.stride + rowOffset) * cols.input + colOffset
                    if cols.stride == 1 {
                        for ow in validCols { out[ow] += weight * line[ow] }
                    } else {
                        for ow in validCols { out[ow] += weight * line[ow * cols.stride] }
                    }
                }
            }
        }
    }
}

extension ConvKernel {
    /// X, W and B: float32.
    func acceptedTypes(input position: Int) -> Set<ElementType>? { DeclaredTypes.float32 }
}
