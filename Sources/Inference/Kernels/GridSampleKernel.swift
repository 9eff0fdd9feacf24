import Foundation

/// GridSample on float32 [N, C, D1, ...] over any number of spatial axes: each output position reads the input at the
/// grid's normalized coordinates ([-1, 1], innermost axis first), with `mode` nearest (ties to even), linear
/// (bilinear) or cubic (bicubic, a = −0.75), `padding_mode` zeros, border or reflection, and `align_corners`.
struct GridSampleKernel: Kernel {
    enum Mode { case nearest, linear, cubic }
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
        let (src, coordinates, out) = (x.elements(as: Float.self), grid.elements(as: Float.self), y.mutableElements(as: Float.self))
        for n in 0..<batch {
            for p in 0..<positions {
                // Per axis (outermost first): taps as (index or −1 for a zero, weight).
                var taps: [[(Int, Double)]] = []
                for axis in 0..<axes {
                    let normalized = coordinates[(n * positions + p) * axes + (axes - 1 - axis)]
                    taps.append(self.taps(normalized, length: dims[axis]))
                }
                var combined: [(Int, Double)] = [(0, 1)]
                for (axis, axisTaps) in taps.enumerated() {
                    combined = combined.flatMap { offset, weight in
                        axisTaps.map { index, w in (offset < 0 || index < 0 ? -1 : offset + index * strides[axis], weight * w) }
                    }
                }
                for c in 0..<channels {
                    let base = (n * channels + c) * plane
                    var sum = 0.0
                    for (offset, weight) in combined where offset >= 0 { sum += weight * Double(src[base + offset]) }
                    out[(n * channels + c) * positions + p] = Float(sum)
                }
            }
        }
    }

    /// The taps of one axis for normalized coordinate `value`.
    private func taps(_ value: Float, length: Int) -> [(Int, Double)] {
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
        position = Double(Float(position))
        func index(_ i: Int) -> Int {
            switch padding {
            case .zeros: return i >= 0 && i < length ? i : -1
            case .border: return Swift.min(Swift.max(i, 0), length - 1)
            case .reflection: return Int(reflect(Double(i), low, high))
            }
        }
        switch mode {
        case .nearest:
            return [(index(Int(position)), 1)]
        case .linear:
            let first = position.rounded(.down), t = position - first
            return [(index(Int(first)), 1 - t), (index(Int(first) + 1), t)]
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
            return [(index(i - 1), cubic(t + 1)), (index(i), cubic(t)), (index(i + 1), cubic(1 - t)), (index(i + 2), cubic(2 - t))]
        }
    }

    /// `value` folded back into [low, high] by reflecting at the ends.
    private func reflect(_ value: Double, _ low: Double, _ high: Double) -> Double {
        let range = high - low
        guard range > 0 else { return low }
        if value < low {
            let distance = low - value, folds = (distance / range).rounded(.towardZero)
            let rest = distance - folds * range
            return Int(folds) % 2 == 0 ? low + rest : high - rest
        }
        if value > high {
            let distance = value - high, folds = (distance / range).rounded(.towardZero)
            let rest = distance - folds * range
            return Int(folds) % 2 == 0 ? high - rest : low + rest
        }
        return value
    }
}
