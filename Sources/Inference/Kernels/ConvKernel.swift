/// Conv (1-D and 2-D) on float32: strides, pads, auto_pad, dilations, group, optional bias, fused activation.
///
/// Per image and group: im2col into session scratch, then one `cblas_sgemm` of the group's weights [M/g, C/g·kH·kW]
/// by the columns [C/g·kH·kW, outH·outW]. A 1×1 kernel with stride 1 and no padding multiplies the input directly;
/// depthwise convolutions (one input channel per group) run a direct loop instead of a one-row GEMM.
struct ConvKernel: Kernel {
    let window: WindowAttributes
    let group: Int
    var activation: Activation?

    init(_ node: NodeDefinition) throws {
        try node.expectInputs(2, 3)
        window = try WindowAttributes(node, readsDilations: true, readsCeilMode: false, requiresKernelShape: false)
        group = try node.attributes.int("group", default: 1)
        guard group >= 1 && group <= [Int].maximumShapeVolume else {
            throw InferenceError.invalidModel("\(node.label): group \(group) must be positive")
        }
    }

    func fusing(_ activation: Activation) -> Kernel? {
        guard self.activation == nil else { return nil }
        var fused = self
        fused.activation = activation
        return fused
    }

    func run(_ io: NodeIO) throws {
        let x = try io.requiredInput(0)
        let w = try io.requiredInput(1)
        let bias = io.input(2)
        guard x.elementType == .float32, w.elementType == .float32, bias.map({ $0.elementType == .float32 }) ?? true else {
            throw InferenceError.invalidInput("Conv takes float32 X, W and B")
        }
        guard x.rank == 3 || x.rank == 4 else {
            throw InferenceError.invalidInput("Conv supports 1-D and 2-D inputs [N, C, (H,) W], got \(x.shape)")
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
        let (rows, cols) = try window.resolve(spatialShape: Array(x.shape[2...]), kernel: kernel)
        let outShape = x.rank == 4 ? [batch, maps, rows.output, cols.output] : [batch, maps, cols.output]
        let y = try io.output(0, .float32, outShape)
        guard y.count > 0 else { return }

        let plane = rows.output * cols.output
        let inputPlane = rows.input * cols.input
        let mapsPerGroup = maps / group
        let taps = rows.kernel * cols.kernel
        let depth = groupChannels * taps
        let src = x.elements(as: Float.self).baseAddress!
        let weights = w.elements(as: Float.self).baseAddress!
        let dst = y.mutableElements(as: Float.self).baseAddress!
        let biasPointer = bias?.elements(as: Float.self).baseAddress

        // With several images and threads, each thread takes whole images (its own im2col scratch, products on
        // one thread); a single image splits its products instead.
        let parts = Parallelism.parts(batch, grain: 1)
        let perImage = parts > 1 ? BLAS.sgemmSerial : BLAS.sgemm
        if depth == 0 {
            // No input channels: the output is the bias alone.
            dst.update(repeating: 0, count: y.count)
            for image in 0..<batch { finish(dst, image: image, maps: maps, plane: plane, bias: biasPointer) }
        } else if groupChannels == 1 && group > 1 {
            Parallelism.forEachChunk(batch, grain: 1) { _, images in
                for image in images {
                    for map in 0..<maps {
                        Self.depthwise(
                            input: src + (image * channels + map / mapsPerGroup) * inputPlane,
                            weights: weights + map * taps, output: dst + (image * maps + map) * plane,
                            rows: rows, cols: cols)
                    }
                    finish(dst, image: image, maps: maps, plane: plane, bias: biasPointer)
                }
            }
        } else if rows.isIdentity && cols.isIdentity {
            Parallelism.forEachChunk(batch, grain: 1) { _, images in
                for image in images {
                    for g in 0..<group {
                        perImage(
                            false, false, mapsPerGroup, plane, depth, 1, weights + g * mapsPerGroup * depth, depth,
                            src + (image * channels + g * groupChannels) * inputPlane, plane,
                            0, dst + (image * maps + g * mapsPerGroup) * plane, plane)
                    }
                    finish(dst, image: image, maps: maps, plane: plane, bias: biasPointer)
                }
            }
        } else {
            try [depth, plane, parts].validateShape()
            let scratch = try io.scratch(floats: parts * depth * plane)
            Parallelism.forEachChunk(batch, grain: 1) { part, images in
                let columns = scratch + part * depth * plane
                for image in images {
                    for g in 0..<group {
                        Self.im2col(
                            input: src + (image * channels + g * groupChannels) * inputPlane, channels: groupChannels,
                            rows: rows, cols: cols, columns: columns)
                        perImage(
                            false, false, mapsPerGroup, plane, depth, 1, weights + g * mapsPerGroup * depth, depth,
                            columns, plane, 0, dst + (image * maps + g * mapsPerGroup) * plane, plane)
                    }
                    // Bias and activation while the image's output is still in cache.
                    finish(dst, image: image, maps: maps, plane: plane, bias: biasPointer)
                }
            }
        }
    }

    /// Adds the bias per output map of one image and applies the fused activation, in one pass.
    private func finish(
        _ dst: UnsafeMutablePointer<Float>, image: Int, maps: Int, plane: Int, bias: UnsafePointer<Float>?
    ) {
        for map in 0..<maps {
            let out = dst + (image * maps + map) * plane
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
    /// padding are zero.
    static func im2col(
        input: UnsafePointer<Float>, channels: Int, rows: AxisWindow, cols: AxisWindow,
        columns: UnsafeMutablePointer<Float>
    ) {
        let plane = rows.output * cols.output
        let inputPlane = rows.input * cols.input
        var row = columns
        for channel in 0..<channels {
            let image = input + channel * inputPlane
            for kh in 0..<rows.kernel {
                let rowOffset = kh * rows.dilation - rows.padBegin
                let validRows = rows.validOutputs(tapOffset: rowOffset)
                for kw in 0..<cols.kernel {
                    let colOffset = kw * cols.dilation - cols.padBegin
                    let validCols = cols.validOutputs(tapOffset: colOffset)
                    if validRows.isEmpty || validCols.isEmpty {
                        row.update(repeating: 0, count: plane)
                        row += plane
                        continue
                    }
                    if validRows.lowerBound > 0 {
                        row.update(repeating: 0, count: validRows.lowerBound * cols.output)
                    }
                    for oh in validRows {
                        let out = row + oh * cols.output
                        let line = image + (oh * rows.stride + rowOffset) * cols.input
                        if validCols.lowerBound > 0 { out.update(repeating: 0, count: validCols.lowerBound) }
                        if cols.stride == 1 {
                            (out + validCols.lowerBound).update(
                                from: line + validCols.lowerBound + colOffset, count: validCols.count)
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
                    row += plane
                }
            }
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
