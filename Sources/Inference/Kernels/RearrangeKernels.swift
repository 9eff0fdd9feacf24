/// DepthToSpace and SpaceToDepth on [N, C, H, W] of any element type: blocks of `blocksize`² channels moved into
/// blocksize × blocksize spatial tiles and back (DepthToSpace in `DCR` or `CRD` order), as one strided copy.
struct DepthSpaceKernel: Kernel {
    /// DepthToSpace (true) or SpaceToDepth.
    let toSpace: Bool
    let block: Int
    /// DepthToSpace's column-row-depth order (`CRD`) instead of depth-column-row (`DCR`).
    let columnRowDepth: Bool

    init(toSpace: Bool, _ node: NodeDefinition) throws {
        try node.expectInputs(1)
        self.toSpace = toSpace
        guard let block = try node.attributes.int("blocksize"), block > 0 else {
            throw InferenceError.invalidModel("\(node.label) needs a positive blocksize")
        }
        self.block = block
        let mode = toSpace ? try node.attributes.string("mode") ?? "DCR" : "DCR"
        guard mode == "DCR" || mode == "CRD" else { throw InferenceError.unsupported(["\(node.label): mode '\(mode)'"]) }
        columnRowDepth = mode == "CRD"
    }

    func run(_ io: NodeIO) throws {
        let x = try io.requiredInput(0)
        let opType = toSpace ? "DepthToSpace" : "SpaceToDepth"
        guard x.rank == 4 else { throw InferenceError.invalidInput("\(opType) takes [N, C, H, W], got \(x.shape)") }
        let (n, c, h, w, b) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3], block)
        // The input viewed with the block axes split out, then permuted into the output's order.
        let view: [Int], permutation: [Int], shape: [Int]
        if toSpace {
            guard c % (b * b) == 0 else { throw InferenceError.invalidInput("\(opType): \(c) channels not divisible by \(b * b)") }
            let depth = c / (b * b)
            if columnRowDepth {
                view = [n, depth, b, b, h, w]
                permutation = [0, 1, 4, 2, 5, 3]
            } else {
                view = [n, b, b, depth, h, w]
                permutation = [0, 3, 4, 1, 5, 2]
            }
            shape = [n, depth, h * b, w * b]
        } else {
            guard h % b == 0, w % b == 0 else { throw InferenceError.invalidInput("\(opType): \(x.shape) not divisible by \(b)") }
            view = [n, c, h / b, b, w / b, b]
            permutation = [0, 3, 5, 1, 2, 4]
            shape = [n, c * b * b, h / b, w / b]
        }
        let y = try io.output(0, x.elementType, shape)
        let strides = view.strides
        StridedCopy.copy(from: x, offset: 0, strides: permutation.map { strides[$0] },
                         shape: permutation.map { view[$0] }, to: y)
    }
}

/// Trilu: the lower (`upper` = 0) or upper triangle of the last two axes, from diagonal `k` (optional int64 input),
/// the rest zero. Any element type.
struct TriluKernel: Kernel {
    let upper: Bool

    init(_ node: NodeDefinition) throws {
        try node.expectInputs(1, 2)
        upper = try node.attributes.int("upper", default: 1) != 0
    }

    func run(_ io: NodeIO) throws {
        let x = try io.requiredInput(0)
        guard x.rank >= 2 else { throw InferenceError.invalidInput("Trilu takes rank ≥ 2, got \(x.shape)") }
        let k = try io.input(1).map { tensor -> Int in
            let values = try tensor.integerList("Trilu k")
            guard values.count == 1 else { throw InferenceError.invalidInput("Trilu k must be one integer") }
            return values[0]
        } ?? 0
        let y = try io.output(0, x.elementType, x.shape)
        guard x.count > 0 else { return }
        let (rows, cols) = (x.shape[x.rank - 2], x.shape[x.rank - 1])
        let size = x.elementType.byteSize
        let src = x.storage.pointer, dst = y.storage.pointer
        dst.initializeMemory(as: UInt8.self, repeating: 0, count: y.byteCount)
        for matrix in 0..<(x.count / (rows * cols)) {
            for r in 0..<rows {
                // Upper keeps columns j ≥ r + k; lower keeps j ≤ r + k.
                let (from, to) = upper ? (Swift.max(0, r + k), cols) : (0, Swift.min(cols, r + k + 1))
                guard from < to else { continue }
                let offset = ((matrix * rows + r) * cols + from) * size
                (dst + offset).copyMemory(from: src + offset, byteCount: (to - from) * size)
            }
        }
    }
}
