/// Pad: each axis widened (or cut, with negative pads) at its start and end, in `constant`, `reflect`, `edge` or
/// `wrap` mode. Any element type (elements moved by size).
///
/// Pads and the constant are an int64 input and an optional scalar input from opset 11 (with optional `axes` from
/// 18), the `pads` and float `value` attributes in opsets 2–10 and the `paddings` attribute in opset 1. Reflect needs
/// each padded axis longer than its pads; reflect, edge and wrap need a non-empty axis.
struct PadKernel: Kernel {
    enum Mode: String { case constant, reflect, edge, wrap }

    let mode: Mode
    /// The pads attribute (opset < 11): begins of every axis, then ends.
    let attributePads: [Int]?
    let attributeValue: Float

    init(_ node: NodeDefinition) throws {
        let name = try node.attributes.string("mode") ?? "constant"
        guard let mode = Mode(rawValue: name), mode != .wrap || node.opsetVersion >= 19 else {
            throw InferenceError.unsupported(["\(node.label): mode '\(name)'"])
        }
        self.mode = mode
        if node.opsetVersion >= 11 {
            try node.expectInputs(2, 4)
            attributePads = nil
            attributeValue = 0
        } else {
            try node.expectInputs(1)
            guard let pads = try node.attributes.ints(node.opsetVersion < 2 ? "paddings" : "pads") else {
                throw InferenceError.invalidModel("\(node.label) has no pads attribute")
            }
            attributePads = pads
            attributeValue = try node.attributes.float("value", default: 0)
        }
    }

    func run(_ io: NodeIO) throws {
        let x = try io.requiredInput(0)
        let rank = x.rank
        var begins = [Int](repeating: 0, count: rank), ends = begins
        let pads = try attributePads ?? io.requiredInput(1).integerList("Pad pads")
        let axes = try io.input(3).map { try normalizedAxes($0.integerList("Pad axes"), rank: rank) } ?? Array(0..<rank)
        guard pads.count == 2 * axes.count else {
            throw InferenceError.invalidInput("Pad needs \(2 * axes.count) pads for rank \(rank), got \(pads.count)")
        }
        for (position, axis) in axes.enumerated() {
            begins[axis] = pads[position]
            ends[axis] = pads[position + axes.count]
        }
        let shape = (0..<rank).map { x.shape[$0] + begins[$0] + ends[$0] }
        guard shape.allSatisfy({ $0 >= 0 }) else {
            throw InferenceError.invalidInput("Pad pads \(pads) cut more than input \(x.shape) holds")
        }
        // Per axis: the source coordinate of each output coordinate, or -1 for the constant.
        var sources: [[Int]] = []
        for axis in 0..<rank {
            let dim = x.shape[axis]
            let padded = begins[axis] > 0 || ends[axis] > 0
            if mode != .constant && padded && (dim == 0 || (mode == .reflect && (begins[axis] >= dim || ends[axis] >= dim))) {
                throw InferenceError.invalidInput("Pad \(mode.rawValue) cannot pad axis \(axis) of \(x.shape) by \(pads)")
            }
            sources.append((0..<shape[axis]).map { out in
                let i = out - begins[axis]
                if i >= 0 && i < dim { return i }
                switch mode {
                case .constant: return -1
                case .edge: return i < 0 ? 0 : dim - 1
                case .wrap: return ((i % dim) + dim) % dim
                case .reflect:
                    let period = 2 * (dim - 1)
                    guard period > 0 else { return 0 }
                    let r = ((i % period) + period) % period
                    return r < dim ? r : period - r
                }
            })
        }
        let y = try io.output(0, x.elementType, shape)
        guard y.count > 0 else { return }
        let fill = try constant(x, io)
        switch x.elementType.byteSize {
        case 1: copy(UInt8.self, x, y, sources, fill)
        case 2: copy(UInt16.self, x, y, sources, fill)
        case 4: copy(UInt32.self, x, y, sources, fill)
        default: copy(UInt64.self, x, y, sources, fill)
        }
    }

    /// The constant's bytes in the input's element type (zero when no constant is given).
    private func constant(_ x: Tensor, _ io: NodeIO) throws -> UInt64 {
        var bits: UInt64 = 0
        if let value = io.input(2), value.count > 0 {
            guard value.elementType == x.elementType, value.count == 1 else {
                throw InferenceError.invalidInput("Pad constant_value must be one \(x.elementType), got \(value.elementType) \(value.shape)")
            }
            withUnsafeMutableBytes(of: &bits) { $0.copyMemory(from: value.bytes) }
        } else if attributeValue != 0 {
            switch x.elementType {
            case .float32: bits = UInt64(attributeValue.bitPattern)
            case .float64: bits = Double(attributeValue).bitPattern
            case .float16: bits = UInt64(Float16(attributeValue).bitPattern)
            default: throw InferenceError.invalidInput("Pad value attribute on \(x.elementType)")
            }
        }
        return bits
    }

    private func copy<T: FixedWidthInteger>(_: T.Type, _ x: Tensor, _ y: Tensor, _ sources: [[Int]], _ fill: UInt64) {
        let src = x.storage.pointer.assumingMemoryBound(to: T.self)
        let dst = y.storage.pointer.assumingMemoryBound(to: T.self)
        let value = T(truncatingIfNeeded: fill)
        let rank = sources.count
        guard rank > 0 else { dst[0] = src[0]; return }
        let strides = x.shape.strides
        let inner = sources[rank - 1], innerStride = strides[rank - 1]
        let rows = y.count / Swift.max(inner.count, 1)
        var counter = [Int](repeating: 0, count: rank)
        for row in 0..<rows {
            var base = 0, inside = true
            for axis in 0..<(rank - 1) {
                let s = sources[axis][counter[axis]]
                if s < 0 { inside = false; break }
                base += s * strides[axis]
            }
            let out = dst + row * inner.count
            if inside {
                for i in 0..<inner.count { out[i] = inner[i] < 0 ? value : src[base + inner[i] * innerStride] }
            } else {
                out.update(repeating: value, count: inner.count)
            }
            var axis = rank - 2
            while axis >= 0 {
                counter[axis] += 1
                if counter[axis] < sources[axis].count { break }
                counter[axis] = 0
                axis -= 1
            }
        }
    }
}
