/// Convolution with few taps per output (input channels × kernel ≤ `maximumDepth`, one group) and output maps in
/// multiples of eight, computed at each output position for eight maps at a time: every tap's input value is
/// broadcast against the taps' weights of eight maps. Bias, activation and a fused MaxPool are applied to those
/// registers before anything is stored.
///
/// This is the first layer of most image models (one to three input channels), where im2col + GEMM multiplies
/// matrices only a few rows deep and spends its time packing and passing the output through memory again for the
/// pooling.
struct SmallDepthConv {
    /// Taps per output above which im2col + GEMM is the better choice.
    static let maximumDepth = 32

    let geometry: ConvKernel.Geometry
    let activation: Activation?
    /// The fused MaxPool's windows over the convolution's output; nil stores the convolution itself.
    let pool: (height: AxisWindow, width: AxisWindow)?

    /// Whether this path takes a convolution of `geometry` in `group`s followed by `pool` windows: one group,
    /// maps a multiple of eight, few taps, a kernel wider than 1×1 (those multiply the input directly, without
    /// im2col), and pooling windows that never reach into padding.
    static func applies(
        _ geometry: ConvKernel.Geometry, group: Int, pool: (height: AxisWindow, width: AxisWindow)?
    ) -> Bool {
        guard group == 1, geometry.maps % 8 == 0, geometry.taps > 1, geometry.depth <= maximumDepth else {
            return false
        }
        return pool.map { $0.height.isInterior && $0.width.isInterior } ?? true
    }

    /// Floats of scratch one image needs (its zero-padded copy; none without padding).
    var imageScratch: Int {
        let (rows, cols) = (geometry.rows, geometry.cols)
        guard rows.padBegin + rows.padEnd + cols.padBegin + cols.padEnd > 0 else { return 0 }
        return geometry.channels * (rows.input + rows.padBegin + rows.padEnd) * (cols.input + cols.padBegin + cols.padEnd)
    }

    /// Rearranges `weights` [maps, channels, kH, kW] into `packed` [taps, maps], so the eight maps of a block sit
    /// together for each tap.
    func pack(_ weights: UnsafePointer<Float>, into packed: UnsafeMutablePointer<Float>) {
        let (maps, depth) = (geometry.maps, geometry.depth)
        for map in 0..<maps {
            for tap in 0..<depth { packed[tap * maps + map] = weights[map * depth + tap] }
        }
    }

    /// Writes each tap's offset from a position's top-left corner in the (padded) image, in the order of the packed
    /// weights, to `offsets` (`depth` of them).
    func tapOffsets(into offsets: UnsafeMutablePointer<Int>) {
        let (rows, cols) = (geometry.rows, geometry.cols)
        let (height, width) = paddedSize
        for channel in 0..<geometry.channels {
            for kh in 0..<rows.kernel {
                for kw in 0..<cols.kernel {
                    offsets[(channel * rows.kernel + kh) * cols.kernel + kw] =
                        (channel * height + kh * rows.dilation) * width + kw * cols.dilation
                }
            }
        }
    }

    /// Height and width of an input plane with its padding.
    private var paddedSize: (height: Int, width: Int) {
        let (rows, cols) = (geometry.rows, geometry.cols)
        return (rows.input + rows.padBegin + rows.padEnd, cols.input + cols.padBegin + cols.padEnd)
    }

    /// Convolves one image (`channels` planes) into `output`: [maps, outH, outW] of the convolution, or of the
    /// pooling when one is fused. `packed` and `offsets` come from `pack` and `tapOffsets`; `padded` is
    /// `imageScratch` floats for this call's use (nil when that is 0).
    func run(
        image: UnsafePointer<Float>, packed: UnsafePointer<Float>, offsets: UnsafePointer<Int>,
        bias: UnsafePointer<Float>?, padded: UnsafeMutablePointer<Float>?, output: UnsafeMutablePointer<Float>
    ) {
        let (rows, cols) = (geometry.rows, geometry.cols)
        let (height, width) = paddedSize
        // Work on a zero-padded copy when there is padding, so every tap of every position reads inside it.
        let source: UnsafePointer<Float>
        if let padded {
            padded.update(repeating: 0, count: geometry.channels * height * width)
            for channel in 0..<geometry.channels {
                for row in 0..<rows.input {
                    (padded + (channel * height + row + rows.padBegin) * width + cols.padBegin).update(
                        from: image + (channel * rows.input + row) * cols.input, count: cols.input)
                }
            }
            source = UnsafePointer(padded)
        } else {
            source = image
        }
        let taps = Taps(source: source, width: width, rows: rows, cols: cols, offsets: offsets,
                        depth: geometry.depth, packed: packed, maps: geometry.maps, bias: bias, activation: activation)
        // Output positions in order (pooled ones when a pool is fused), two at a time for independent work.
        let (outRows, outCols) = pool ?? (rows, cols)
        let plane = outRows.output * outCols.output
        for group in stride(from: 0, to: geometry.maps, by: 32) {
            var position = 0
            while position < plane {
                let second = Swift.min(position + 1, plane - 1)
                let (first, next): (MapBlocks, MapBlocks)
                if let pool {
                    (first, next) = taps.pooled(position, second, over: pool.height, pool.width, group: group)
                } else {
                    let (x, y) = taps.values(
                        (position / cols.output, position % cols.output), (second / cols.output, second % cols.output),
                        group: group)
                    (first, next) = (taps.activated(x), taps.activated(y))
                }
                taps.store(first, to: output, position: position, plane: plane, group: group)
                if second != position { taps.store(next, to: output, position: second, plane: plane, group: group) }
                position += 2
            }
        }
    }

    /// Up to 32 maps' values at one position: four blocks of eight.
    private struct MapBlocks {
        var a = FloatVector(), b = FloatVector(), c = FloatVector(), d = FloatVector()

        /// The lane-wise larger of `self` and `other` (`self` where equal or `other` is NaN), like MaxPool.
        @inline(__always)
        mutating func keepLarger(_ other: MapBlocks) {
            a = a.larger(other.a)
            b = b.larger(other.b)
            c = c.larger(other.c)
            d = d.larger(other.d)
        }
    }

    /// What computing a position needs.
    private struct Taps {
        let source: UnsafePointer<Float>
        let width: Int
        let rows: AxisWindow, cols: AxisWindow
        let offsets: UnsafePointer<Int>
        let depth: Int
        let packed: UnsafePointer<Float>
        let maps: Int
        let bias: UnsafePointer<Float>?
        let activation: Activation?

        /// The convolution (with bias, before the activation) for maps `group..<group + 32` (those that exist) at two
        /// output positions (row, column), computed together: eight independent sums per tap.
        @inline(__always)
        func values(_ p: (Int, Int), _ q: (Int, Int), group: Int) -> (MapBlocks, MapBlocks) {
            let first = source + p.0 * rows.stride * width + p.1 * cols.stride
            let second = source + q.0 * rows.stride * width + q.1 * cols.stride
            // Blocks past the last map read block 0's weights; their sums are never stored.
            let blocks = Swift.min(4, (maps - group) / 8)
            let w0 = packed + group
            let w1 = blocks > 1 ? w0 + 8 : w0, w2 = blocks > 2 ? w0 + 16 : w0, w3 = blocks > 3 ? w0 + 24 : w0
            var x = MapBlocks()
            if let bias {
                let b0 = bias + group
                x.a = FloatVector(loading: b0)
                if blocks > 1 { x.b = FloatVector(loading: b0 + 8) }
                if blocks > 2 { x.c = FloatVector(loading: b0 + 16) }
                if blocks > 3 { x.d = FloatVector(loading: b0 + 24) }
            }
            var y = x
            for tap in 0..<depth {
                let offset = offsets[tap], row = tap * maps
                let u = FloatVector(repeating: first[offset]), v = FloatVector(repeating: second[offset])
                let k0 = FloatVector(loading: w0 + row), k1 = FloatVector(loading: w1 + row)
                let k2 = FloatVector(loading: w2 + row), k3 = FloatVector(loading: w3 + row)
                x.a = FastMath.fma(u, k0, x.a)
                y.a = FastMath.fma(v, k0, y.a)
                x.b = FastMath.fma(u, k1, x.b)
                y.b = FastMath.fma(v, k1, y.b)
                x.c = FastMath.fma(u, k2, x.c)
                y.c = FastMath.fma(v, k2, y.c)
                x.d = FastMath.fma(u, k3, x.d)
                y.d = FastMath.fma(v, k3, y.d)
            }
            return (x, y)
        }

        /// Pooled outputs `p` and `q` (flat indexes into the pooled plane): the larger of the activated values in
        /// each window, the first where equal.
        @inline(__always)
        func pooled(
            _ p: Int, _ q: Int, over poolRows: AxisWindow, _ poolCols: AxisWindow, group: Int
        ) -> (MapBlocks, MapBlocks) {
            let (ph, pw) = p.quotientAndRemainder(dividingBy: poolCols.output)
            let (qh, qw) = q.quotientAndRemainder(dividingBy: poolCols.output)
            // Relu, Sigmoid and Tanh never decrease, so the larger activated value is the activated larger sum: they
            // apply once after the window. Gelu does not have that property and applies to every value.
            let afterPooling = activation != .gelu
            var best = (MapBlocks(), MapBlocks())
            for i in 0..<poolRows.kernel {
                for j in 0..<poolCols.kernel {
                    let (di, dj) = (i * poolRows.dilation, j * poolCols.dilation)
                    var (x, y) = values(
                        (ph * poolRows.stride + di, pw * poolCols.stride + dj),
                        (qh * poolRows.stride + di, qw * poolCols.stride + dj), group: group)
                    if !afterPooling {
                        x = activated(x)
                        y = activated(y)
                    }
                    if i == 0 && j == 0 {
                        best = (x, y)
                    } else {
                        best.0.keepLarger(x)
                        best.1.keepLarger(y)
                    }
                }
            }
            return afterPooling ? (activated(best.0), activated(best.1)) : best
        }

        /// `sums` with the activation applied.
        @inline(__always)
        func activated(_ sums: MapBlocks) -> MapBlocks {
            switch activation {
            case nil:
                return sums
            case .relu?:
                let zero = FloatVector()
                return MapBlocks(
                    a: sums.a.replacing(with: zero, where: sums.a .< zero),
                    b: sums.b.replacing(with: zero, where: sums.b .< zero),
                    c: sums.c.replacing(with: zero, where: sums.c .< zero),
                    d: sums.d.replacing(with: zero, where: sums.d .< zero))
            case .sigmoid?:
                return MapBlocks(
                    a: FastMath.sigmoid(sums.a), b: FastMath.sigmoid(sums.b), c: FastMath.sigmoid(sums.c),
                    d: FastMath.sigmoid(sums.d))
            case .tanh?:
                return MapBlocks(
                    a: FastMath.tanh(sums.a), b: FastMath.tanh(sums.b), c: FastMath.tanh(sums.c), d: FastMath.tanh(sums.d))
            case .gelu?:
                return MapBlocks(
                    a: FastMath.gelu(sums.a), b: FastMath.gelu(sums.b), c: FastMath.gelu(sums.c), d: FastMath.gelu(sums.d))
            }
        }

        /// Stores the maps of `group` at `position` of their planes in `output` ([maps, plane]).
        @inline(__always)
        func store(_ values: MapBlocks, to output: UnsafeMutablePointer<Float>, position: Int, plane: Int, group: Int) {
            let base = output + group * plane + position
            let blocks = Swift.min(4, (maps - group) / 8)
            for lane in 0..<8 { base[lane * plane] = values.a[lane] }
            if blocks > 1 { for lane in 0..<8 { base[(8 + lane) * plane] = values.b[lane] } }
            if blocks > 2 { for lane in 0..<8 { base[(16 + lane) * plane] = values.c[lane] } }
            if blocks > 3 { for lane in 0..<8 { base[(24 + lane) * plane] = values.d[lane] } }
        }
    }
}
