import Foundation

/// MaxPool over any number of spatial axes: kernel_shape, strides, pads, auto_pad, dilations, ceil_mode; float32, float64, int8 and
/// uint8. The optional Indices output (int64, flat index into the input; storage_order 0 row-major, 1 column-major)
/// is filled when the node declares it. 1-D and 2-D windows take the loops below; more axes walk a `WindowGrid`.
struct MaxPoolKernel: Kernel, DeclaresElementTypes {
    let window: WindowAttributes
    let columnMajorIndices: Bool

    init(_ node: NodeDefinition) throws {
        try node.expectInputs(1)
        window = try WindowAttributes(node, readsDilations: true, readsCeilMode: true, requiresKernelShape: true)
        let storageOrder = try node.attributes.int("storage_order", default: 0)
        guard storageOrder == 0 || storageOrder == 1 else {
            throw InferenceError.invalidModel("\(node.label): storage_order must be 0 or 1, is \(storageOrder)")
        }
        columnMajorIndices = storageOrder == 1
    }

    func run(_ io: NodeIO) throws {
        let x = try io.requiredInput(0)
        try checkType(x, at: 0, "MaxPool")
        guard x.rank >= 3 else {
            throw InferenceError.invalidInput("MaxPool takes [N, C, D1, ...] with a spatial axis, got \(x.shape)")
        }
        let axes = try windows(spatialShape: Array(x.shape[2...]))
        let shape = Array(x.shape[..<2]) + axes.map(\.output)
        let y = try io.output(0, x.elementType, shape)
        let indices = io.outputIndexes.count > 1 ? try io.output(1, .int64, shape) : nil
        let planes = x.shape[0] * x.shape[1]
        switch x.elementType {
        case .float32: pool(Float.self, x, y, indices, planes, axes)
        case .float64: pool(Double.self, x, y, indices, planes, axes)
        case .uint8: pool(UInt8.self, x, y, indices, planes, axes)
        case .int8: pool(Int8.self, x, y, indices, planes, axes)
        default: throw InferenceError.invalidInput("MaxPool does not take \(x.elementType)")
        }
    }

    /// The window along each axis over planes of `spatialShape`.
    func windows(spatialShape: [Int]) throws(InferenceError) -> [AxisWindow] {
        try window.axes(spatialShape: spatialShape, kernel: window.kernelShape!)
    }

    private func pool<T: Comparable & AdditiveArithmetic>(
        _: T.Type, _ x: Tensor, _ y: Tensor, _ indices: Tensor?, _ planes: Int, _ axes: [AxisWindow]
    ) {
        guard y.count > 0 else { return }
        let src = x.elements(as: T.self).baseAddress!
        let dst = y.mutableElements(as: T.self).baseAddress!
        let where_ = indices?.mutableElements(as: Int64.self).baseAddress
        let inputPlane = axes.inputVolume
        // Planes split across threads, at least ~16K inputs per part.
        let grain = Swift.max(1, 16384 / Swift.max(inputPlane, 1))
        guard axes.count <= 2 else {
            let grid = WindowGrid(axes)
            Parallelism.forEachChunk(planes, grain: grain) { _, range in poolWindows(src, dst, where_, range, grid) }
            return
        }
        let (_, rows, cols) = axes.planeSplit
        Parallelism.forEachChunk(planes, grain: grain) { _, range in
            if where_ == nil {
                poolValues(src, dst, range, inputEnd: src + planes * inputPlane, rows, cols)
            } else {
                poolPlanes(src, dst, where_, range, rows, cols)
            }
        }
    }

    /// Pools the planes in `range` of `src` into the same planes of `dst` (and their indices into `where_`) on the
    /// calling thread, over windows of any spatial rank.
    func poolWindows<T: Comparable & AdditiveArithmetic>(
        _ src: UnsafePointer<T>, _ dst: UnsafeMutablePointer<T>, _ where_: UnsafeMutablePointer<Int64>?,
        _ planes: Range<Int>, _ grid: WindowGrid
    ) {
        let (inputPlane, plane) = (grid.inputVolume, grid.outputVolume)
        grid.forEachWindow { position, taps, _ in
            for p in planes {
                let out = p * plane + position
                // A window wholly in the padding (possible only with ceil_mode) has no input: ONNX's reference
                // leaves 0 and index -1 there.
                guard let first = taps.first else {
                    dst[out] = .zero
                    where_?[out] = -1
                    continue
                }
                let image = src + p * inputPlane
                var best = image[first], at = first
                for offset in taps where image[offset] > best {
                    best = image[offset]
                    at = offset
                }
                dst[out] = best
                if let where_ {
                    where_[out] = Int64(p * inputPlane + (columnMajorIndices ? grid.columnMajor(at) : at))
                }
            }
        }
    }

    /// Pools the planes in `range` of `src` into the same planes of `dst` on the calling thread, without indices,
    /// taking the fastest loop the window allows. `inputEnd` is the end of the memory `src` may be read up to.
    func poolValues<T: Comparable & AdditiveArithmetic>(
        _ src: UnsafePointer<T>, _ dst: UnsafeMutablePointer<T>, _ range: Range<Int>, inputEnd: UnsafePointer<T>,
        _ rows: AxisWindow, _ cols: AxisWindow
    ) {
        guard rows.isInterior, cols.isInterior else { return poolPlanes(src, dst, nil, range, rows, cols) }
        let from = src + range.lowerBound * rows.input * cols.input
        let to = dst + range.lowerBound * rows.output * cols.output
        if T.self == Float.self && rows.kernel == 2 && cols.kernel == 2 && cols.stride == 2 && cols.dilation == 1 {
            // T is Float: the casts only restate that.
            Self.poolColumnPairs(
                UnsafeRawPointer(from).assumingMemoryBound(to: Float.self),
                UnsafeMutableRawPointer(to).assumingMemoryBound(to: Float.self), range.count, rows, cols,
                inputEnd: UnsafeRawPointer(inputEnd).assumingMemoryBound(to: Float.self))
        } else {
            Self.poolInterior(from, to, range.count, rows, cols)
        }
    }

    private func poolPlanes<T: Comparable & AdditiveArithmetic>(
        _ src: UnsafePointer<T>, _ dst: UnsafeMutablePointer<T>, _ where_: UnsafeMutablePointer<Int64>?,
        _ planes: Range<Int>, _ rows: AxisWindow, _ cols: AxisWindow
    ) {
        let inputPlane = rows.input * cols.input
        let plane = rows.output * cols.output
        for p in planes {
            let image = src + p * inputPlane
            for oh in 0..<rows.output {
                let tapRows = rows.validTaps(output: oh)
                let top = oh * rows.stride - rows.padBegin
                for ow in 0..<cols.output {
                    let tapCols = cols.validTaps(output: ow)
                    let left = ow * cols.stride - cols.padBegin
                    let out = p * plane + oh * cols.output + ow
                    // A window wholly in the padding (possible only with ceil_mode) has no input: ONNX's reference
                    // leaves 0 and index -1 there.
                    guard !tapRows.isEmpty && !tapCols.isEmpty else {
                        dst[out] = .zero
                        where_?[out] = -1
                        continue
                    }
                    var bestH = top + tapRows.lowerBound * rows.dilation
                    var bestW = left + tapCols.lowerBound * cols.dilation
                    var best = image[bestH * cols.input + bestW]
                    if let where_ {
                        for kh in tapRows {
                            let h = top + kh * rows.dilation
                            let line = image + h * cols.input
                            for kw in tapCols {
                                let w = left + kw * cols.dilation
                                if line[w] > best {
                                    best = line[w]
                                    bestH = h
                                    bestW = w
                                }
                            }
                        }
                        where_[out] = Int64(p * inputPlane + (columnMajorIndices
                            ? bestH + bestW * rows.input : bestH * cols.input + bestW))
                    } else {
                        for kh in tapRows {
                            let line = image + (top + kh * rows.dilation) * cols.input + left
                            for kw in tapCols where line[kw * cols.dilation] > best { best = line[kw * cols.dilation] }
                        }
                    }
                    dst[out] = best
                }
            }
        }
    }
}

extension MaxPoolKernel {
    /// Windows that never touch padding (the usual unpadded pooling): no per-position bounds, and a branch-free
    /// max over each window; 2×2 windows are unrolled.
    static func poolInterior<T: Comparable>(
        _ src: UnsafePointer<T>, _ dst: UnsafeMutablePointer<T>, _ planes: Int, _ rows: AxisWindow, _ cols: AxisWindow
    ) {
        let (width, outWidth) = (cols.input, cols.output)
        let (rowStep, colStep) = (rows.stride * width, cols.stride)
        let (rowTap, colTap) = (rows.dilation * width, cols.dilation)
        var out = dst
        for p in 0..<planes {
            let image = src + p * rows.input * width
            for oh in 0..<rows.output {
                let top = image + oh * rowStep
                if rows.kernel == 2 && cols.kernel == 2 {
                    let below = top + rowTap
                    for ow in 0..<outWidth {
                        let w = ow * colStep
                        out[ow] = Swift.max(Swift.max(top[w], top[w + colTap]), Swift.max(below[w], below[w + colTap]))
                    }
                } else {
                    for ow in 0..<outWidth {
                        let corner = top + ow * colStep
                        var best = corner[0]
                        for kh in 0..<rows.kernel {
                            let line = corner + kh * rowTap
                            for kw in 0..<cols.kernel { best = Swift.max(best, line[kw * colTap]) }
                        }
                        out[ow] = best
                    }
                }
                out += outWidth
            }
        }
    }
}

extension MaxPoolKernel {
    /// Interior float32 windows two columns wide at column stride 2 (the common 2×2 pooling), eight outputs per step:
    /// the larger of the window's two rows over sixteen columns, then of each even/odd column pair.
    ///
    /// A step may load past the end of a row into the next (never at or past `inputEnd`, the end of the whole input)
    /// and store past the end of an output row into outputs this call writes later (never past its own `planes`);
    /// steps that would go further take the element loop.
    static func poolColumnPairs(
        _ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, _ planes: Int, _ rows: AxisWindow,
        _ cols: AxisWindow, inputEnd: UnsafePointer<Float>
    ) {
        let (width, outWidth) = (cols.input, cols.output)
        let outputEnd = dst + planes * rows.output * outWidth
        let (rowStep, tapStep, planeStep) = (rows.stride &* width, rows.dilation &* width, rows.input &* width)
        var out = dst
        var image = src
        for _ in 0..<planes {
            var top = image
            for _ in 0..<rows.output {
                let below = top + tapStep
                var ow = 0
                while ow < outWidth {
                    let (upper, lower) = (top + (ow &<< 1), below + (ow &<< 1))
                    if lower + 16 <= inputEnd {
                        let left = FloatVector(loading: upper).larger(FloatVector(loading: lower))
                        let right = FloatVector(loading: upper + 8).larger(FloatVector(loading: lower + 8))
                        let both = SIMD16(lowHalf: left, highHalf: right)
                        let pooled = both.evenHalf.larger(both.oddHalf)
                        if out + ow + 8 <= outputEnd {
                            pooled.store(to: out + ow)
                        } else {
                            pooled.store(to: out + ow, upTo: outWidth &- ow)
                        }
                    } else {
                        for o in 0..<Swift.min(8, outWidth &- ow) {
                            let w = o &<< 1
                            out[ow &+ o] = Swift.max(Swift.max(upper[w], upper[w + 1]), Swift.max(lower[w], lower[w + 1]))
                        }
                    }
                    ow &+= 8
                }
                top += rowStep
                out += outWidth
            }
            image += planeStep
        }
    }
}

/// AveragePool and LpPool over any number of spatial axes on float32: kernel_shape, strides, pads, auto_pad,
/// dilations, ceil_mode; AveragePool's count_include_pad (the divisor counts taps in the explicit padding, not those
/// past it from ceil_mode); LpPool's `p`, giving (Σ |x|^p)^(1/p) over each window. Windows come from a `WindowGrid`.
struct AveragePoolKernel: Kernel, DeclaresElementTypes {
    let window: WindowAttributes
    let countIncludesPadding: Bool
    /// LpPool's exponent; nil for AveragePool.
    let norm: Float?
    var opType: String { norm == nil ? "AveragePool" : "LpPool" }

    init(lp: Bool, _ node: NodeDefinition) throws {
        try node.expectInputs(1)
        // dilations arrived in opset 19 (AveragePool) and 18 (LpPool), ceil_mode in 18 for LpPool.
        window = try WindowAttributes(
            node, readsDilations: node.opsetVersion >= (lp ? 18 : 19), readsCeilMode: !lp || node.opsetVersion >= 18,
            requiresKernelShape: true)
        countIncludesPadding = lp ? false : try node.attributes.int("count_include_pad", default: 0) != 0
        norm = lp ? Float(try node.attributes.int("p", default: 2)) : nil
    }

    func run(_ io: NodeIO) throws {
        let x = try io.requiredInput(0)
        try checkType(x, at: 0, opType)
        guard x.rank >= 3 else {
            throw InferenceError.invalidInput("\(opType) takes [N, C, D1, ...] with a spatial axis, got \(x.shape)")
        }
        let axes = try window.axes(spatialShape: Array(x.shape[2...]), kernel: window.kernelShape!)
        let y = try io.output(0, .float32, Array(x.shape[..<2]) + axes.map(\.output))
        guard y.count > 0 else { return }
        let planes = x.shape[0] * x.shape[1]
        let src = x.elements(as: Float.self).baseAddress!
        let dst = y.mutableElements(as: Float.self).baseAddress!
        let grid = WindowGrid(axes)
        let (inputPlane, plane) = (grid.inputVolume, grid.outputVolume)
        let (norm, countIncludesPadding) = (norm, countIncludesPadding)
        let grain = Swift.max(1, 16384 / Swift.max(inputPlane, 1))
        Parallelism.forEachChunk(planes, grain: grain) { _, range in
            grid.forEachWindow { position, taps, paddedTaps in
                for p in range {
                    let image = src + p * inputPlane
                    var sum: Float = 0
                    if let norm {
                        for offset in taps { sum += Foundation.pow(Swift.abs(image[offset]), norm) }
                        dst[p * plane + position] = Foundation.pow(sum, 1 / norm)
                        continue
                    }
                    for offset in taps { sum += image[offset] }
                    let divisor = countIncludesPadding ? paddedTaps : taps.count
                    // An empty window (only possible past the padding with ceil_mode) averages to 0, like ONNX's
                    // reference.
                    dst[p * plane + position] = divisor > 0 ? sum / Float(divisor) : 0
                }
            }
        }
    }
}

/// GlobalAveragePool and GlobalMaxPool: the mean (or the largest value) over every spatial axis of [N, C, D1, ...],
/// giving [N, C, 1, ...]; float32.
struct GlobalPoolKernel: Kernel, DeclaresElementTypes {
    let largest: Bool
    var opType: String { largest ? "GlobalMaxPool" : "GlobalAveragePool" }

    init(largest: Bool, _ node: NodeDefinition) throws {
        try node.expectInputs(1)
        self.largest = largest
    }

    func run(_ io: NodeIO) throws {
        let x = try io.requiredInput(0)
        try checkType(x, at: 0, opType)
        guard x.rank >= 2 else {
            throw InferenceError.invalidInput("\(opType) takes [N, C, ...], got \(x.shape)")
        }
        let shape = Array(x.shape[..<2]) + [Int](repeating: 1, count: x.rank - 2)
        let y = try io.output(0, .float32, shape)
        guard y.count > 0 else { return }
        let planes = y.count
        let plane = x.shape[2...].reduce(1, *)
        let src = x.elements(as: Float.self).baseAddress!
        let dst = y.mutableElements(as: Float.self).baseAddress!
        let scale = 1 / Float(plane)
        for p in 0..<planes {
            let values = src + p * plane
            if largest {
                dst[p] = plane > 0 ? VectorLoop.max(values, plane) : -.infinity
            } else {
                var sum: Float = 0
                for i in 0..<plane { sum += values[i] }
                dst[p] = sum * scale
            }
        }
    }
}

extension MaxPoolKernel {
    private static let inputTypes: Set<ElementType> = [.float32, .float64, .uint8, .int8]

    func acceptedTypes(input position: Int) -> Set<ElementType>? { Self.inputTypes }
}

extension AveragePoolKernel {
    func acceptedTypes(input position: Int) -> Set<ElementType>? { DeclaredTypes.float32 }
}

extension GlobalPoolKernel {
    func acceptedTypes(input position: Int) -> Set<ElementType>? { DeclaredTypes.float32 }
}
