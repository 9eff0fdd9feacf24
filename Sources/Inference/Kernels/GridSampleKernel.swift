import Foundation

/// GridSample on float32 [N, C, D1, ...] over any number of spatial axes: each output position reads the input at the
/// grid's normalized coordinates ([-1, 1], innermost axis first), with `mode` nearest (ties to even), linear
/// (bilinear) or cubic (bicubic, a = −0.75), `padding_mode` zeros, border or reflection, and `align_corners`.
struct GridSampleKernel: Kernel {
    enum Mode {
        case nearest, linear, cubic

        /// How many inputs along one axis an output reads.
        var tapsPerAxis: Int {
            switch self {
            case .nearest: 1
            case .linear: 2
            case .cubic: 4
            }
        }
    }
    enum Padding: String { case zeros, border, reflection }

    let mode: Mode
    let padding: Padding
    let alignCorners: Bool

    init(_ node: NodeDefinition) throws {
        try node.expectInputs(2)
        let name = try node.attributes.string("mode") ?? (node.opsetVersion >= 20 ? "linear" : "bilinear")
        switch name {
        case "nearest": mode = .nearest
        case "linear", "bilinear": mode = .linear
        case "cubic", "bicubic": mode = .cubic
        default: throw InferenceError.unsupported(["\(node.label): mode '\(name)'"])
        }
        let paddingName = try node.attributes.string("padding_mode") ?? "zeros"
        guard let padding = Padding(rawValue: paddingName) else {
            throw InferenceError.unsupported(["\(node.label): padding_mode '\(paddingName)'"])
        }
        self.padding = padding
        alignCorners = try node.attributes.int("align_corners", default: 0) != 0
    }

    func run(_ io: NodeIO) throws {
        let x = try io.requiredInput(0), grid = try io.requiredInput(1)
        let axes = x.rank - 2
        guard x.elementType == .float32, grid.elementType == .float32, axes >= 1, grid.rank == x.rank,
              grid.shape[0] == x.shape[0], grid.shape.last == axes
        else {
            throw InferenceError.invalidInput("GridSample takes float32 X [N, C, ...] and grid [N, ..., \(axes)], got \(x.shape) and \(grid.shape)")
        }
        let (batch, channels) = (x.shape[0], x.shape[1])
        let dims = Array(x.shape[2...]), outDims = Array(grid.shape[1..<(grid.rank - 1)])
        let y = try io.output(0, .float32, [batch, channels] + outDims)
        let positions = outDims.reduce(1, *), plane = dims.reduce(1, *)
        guard y.count > 0, plane > 0 else {
            y.mutableElements(as: Float.self).update(repeating: 0)
            return
        }
        let strides = dims.strides
        // Each output reads tapsPerAxis^axes inputs (1, 2 or 4 per axis); the lists are built in two buffers made
        // once per run, not per position.
        let tapsPerAxis = mode.tapsPerAxis
        var combinedCount = 1
        for _ in 0..<axes {
            let (next, overflow) = combinedCount.multipliedReportingOverflow(by: tapsPerAxis)
            guard !overflow, next <= Self.maximumTapsPerOutput else {
                throw InferenceError.invalidInput(
                    "GridSample in \(mode) mode over \(axes) spatial axes reads \(tapsPerAxis)^\(axes) inputs per output; at most \(Self.maximumTapsPerOutput) are supported")
            }
            combinedCount = next
        }
        var axisTaps = [Tap](repeating: Tap(offset: 0, weight: 0), count: axes * tapsPerAxis)
        var combined = [Tap](repeating: Tap(offset: 0, weight: 0), count: combinedCount)
        let (src, coordinates, out) = (x.elements(as: Float.self), grid.elements(as: Float.self), y.mutableElements(as: Float.self))
        for n in 0..<batch {
            for p in 0..<positions {
                // Per axis (outermost first): taps as (index or −1 for a zero, weight).
                for axis in 0..<axes {
                    let normalized = coordinates[(n * positions + p) * axes + (axes - 1 - axis)]
                    taps(normalized, length: dims[axis], into: &axisTaps, at: axis * tapsPerAxis)
                }
                if axes == 2 {
                    // Images (the common case): the two axes' taps combined as they are summed.
                    sample2D(axisTaps, tapsPerAxis, rowStride: strides[0], src, from: n * channels * plane, plane: plane,
                             channels: channels) { c, value in
                        out[(n * channels + c) * positions + p] = value
                    }
                    continue
                }
                // Every combination, the outermost axis varying slowest: expanded in place from the back, so each
                // entry is read before the entries it becomes overwrite it.
                combined[0] = Tap(offset: 0, weight: 1)
                var count = 1
                for axis in 0..<axes {
                    for i in stride(from: count - 1, through: 0, by: -1) {
                        let outer = combined[i]
                        for t in stride(from: tapsPerAxis - 1, through: 0, by: -1) {
                            let inner = axisTaps[axis * tapsPerAxis + t]
                            combined[i * tapsPerAxis + t] = Tap(
                                offset: outer.offset < 0 || inner.offset < 0 ? -1 : outer.offset + inner.offset * strides[axis],
                                weight: outer.weight * inner.weight)
                        }
                    }
                    count *= tapsPerAxis
                }
                for c in 0..<channels {
                    let base = (n * channels + c) * plane
                    var sum = 0.0
                    for tap in combined where tap.offset >= 0 { sum += tap.weight * Double(src[base + tap.offset]) }
                    out[(n * channels + c) * positions + p] = Float(sum)
                }
            }
        }
    }

    /// One output position of a 2-D sample, per channel: Σ over the row taps and the column taps (`taps[0..<count]`
    /// and `taps[count..<2·count]`) of both weights times the input, zero where either tap is padding. The batch
    /// item's channels lie in `src` from `start` on, `plane` elements each.
    private func sample2D(
        _ taps: [Tap], _ count: Int, rowStride: Int, _ src: UnsafeBufferPointer<Float>, from start: Int, plane: Int,
        channels: Int,
        _ write: (Int, Float) -> Void
    ) {
        for c in 0..<channels {
            let base = start + c * plane
            var sum = 0.0
            for i in 0..<count where taps[i].offset >= 0 {
                let row = base + taps[i].offset * rowStride
                var inner = 0.0
                for j in count..<(2 * count) where taps[j].offset >= 0 { inner += taps[j].weight * Double(src[row + taps[j].offset]) }
                sum += taps[i].weight * inner
            }
            write(c, Float(sum))
        }
    }

    /// The most inputs one output may read (cubic mode over 8 spatial axes); beyond, the work per output is refused.
    static let maximumTapsPerOutput = 1 << 16

    /// One input an output reads: its offset in the channel's plane (−1 for a zero from padding) and its weight.
    struct Tap {
        var offset: Int
        var weight: Double
    }

    /// Writes the `mode.tapsPerAxis` taps of one axis for normalized coordinate `value` into `list[start...]`.
    private func taps(_ value: Float, length: Int, into list: inout [Tap], at start: Int) {
        // Denormalized in float32, as the reference does, so nearest-mode ties land the same way.
        var position = Double(alignCorners ? (value + 1) / 2 * Float(length - 1) : ((value + 1) * Float(length) - 1) / 2)
        let (low, high) = alignCorners ? (0.0, Double(length - 1)) : (-0.5, Double(length) - 0.5)
        if mode == .nearest { position = position.rounded(.toNearestOrEven) }
        if position < low || position > high {
            switch padding {
            case .zeros: break
            case .border: position = Swift.min(Swift.max(position, 0), Double(length - 1))
            case .reflection: position = reflect(position, low, high)
            }
        }
        // Far outside the input (zeros padding; the others have brought it inside) every tap reads a zero, and so
        // does NaN: clamped there, the integer conversions below stay in range.
        position = position.isNaN ? low - 4 : Swift.min(Swift.max(Double(Float(position)), low - 4), high + 4)
        func index(_ i: Int) -> Int {
            switch padding {
            case .zeros: return i >= 0 && i < length ? i : -1
            case .border: return Swift.min(Swift.max(i, 0), length - 1)
            case .reflection: return Int(reflect(Double(i), low, high))
            }
        }
        switch mode {
        case .nearest:
            list[start] = Tap(offset: index(Int(position)), weight: 1)
        case .linear:
            let first = position.rounded(.down), t = position - first
            list[start] = Tap(offset: index(Int(first)), weight: 1 - t)
            list[start + 1] = Tap(offset: index(Int(first) + 1), weight: t)
        case .cubic:
            let first = position.rounded(.down), t = position - first
            let a = -0.75
            func cubic(_ s: Double) -> Double {
                let v = Swift.abs(s)
                if v <= 1 { return ((a + 2) * v - (a + 3)) * v * v + 1 }
                if v < 2 { return ((a * v - 5 * a) * v + 8 * a) * v - 4 * a }
                return 0
            }
            let i = Int(first)
            list[start] = Tap(offset: index(i - 1), weight: cubic(t + 1))
            list[start + 1] = Tap(offset: index(i), weight: cubic(t))
            list[start + 2] = Tap(offset: index(i + 1), weight: cubic(1 - t))
            list[start + 3] = Tap(offset: index(i + 2), weight: cubic(2 - t))
        }
    }

    /// `value` folded back into [low, high] by reflecting at the ends.
    private func reflect(_ value: Double, _ low: Double, _ high: Double) -> Double {
        let range = high - low
        guard range > 0 else { return low }
        if value < low {
            let distance = low - value, folds = (distance / range).rounded(.towardZero)
            let rest = distance - folds * range
            return folds.truncatingRemainder(dividingBy: 2) == 0 ? low + rest : high - rest
        }
        if value > high {
            let distance = value - high, folds = (distance / range).rounded(.towardZero)
            let rest = distance - folds * range
            return folds.truncatingRemainder(dividingBy: 2) == 0 ? high - rest : low + rest
        }
        return value
    }
}
