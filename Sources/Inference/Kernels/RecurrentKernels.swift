import Foundation

/// The attributes RNN, GRU and LSTM share: hidden_size, direction, layout; default activations only.
struct RecurrentAttributes: Sendable {
    enum Direction: String, Sendable {
        case forward, reverse, bidirectional
    }

    let hiddenSize: Int
    let direction: Direction
    /// layout 1: X is [batch, seq, input], Y [batch, seq, dirs, H], Y_h / Y_c / initial states [batch, dirs, H].
    let batchMajor: Bool

    var directions: Int { direction == .bidirectional ? 2 : 1 }

    /// Whether pass `index` (0 or 1) runs from the last time step to the first.
    func isReverse(_ index: Int) -> Bool {
        direction == .reverse || (direction == .bidirectional && index == 1)
    }

    /// Reads the shared attributes; `defaultActivations` is the operator's activation list for one direction
    /// (an explicit `activations` attribute is accepted when it spells exactly the defaults).
    init(_ node: NodeDefinition, defaultActivations: [String]) throws {
        let attributes = node.attributes
        guard let hidden = try attributes.int("hidden_size") else {
            throw InferenceError.invalidModel("\(node.label) has no hidden_size attribute")
        }
        guard hidden >= 1 && hidden <= WindowAttributes.attributeLimit else {
            throw InferenceError.invalidModel("\(node.label): hidden_size \(hidden) out of range")
        }
        hiddenSize = hidden
        let directionName = try attributes.string("direction") ?? "forward"
        guard let direction = Direction(rawValue: directionName) else {
            throw InferenceError.invalidModel("\(node.label): unknown direction '\(directionName)'")
        }
        self.direction = direction
        let layout = try attributes.int("layout", default: 0)
        guard layout == 0 || layout == 1 else {
            throw InferenceError.invalidModel("\(node.label): layout must be 0 or 1, is \(layout)")
        }
        batchMajor = layout == 1

        var problems: [String] = []
        if let activations = try attributes.strings("activations") {
            let expected = Array([[String]](repeating: defaultActivations, count: direction == .bidirectional ? 2 : 1).joined())
            if activations.map({ $0.lowercased() }) != expected.map({ $0.lowercased() }) {
                problems.append("\(node.opType) activations \(activations) (only the defaults \(expected))")
            }
        }
        // alpha / beta parametrize activations such as LeakyRelu; Sigmoid and Tanh take none, so with the default
        // activations the values have no effect.
        _ = try attributes.floats("activation_alpha")
        _ = try attributes.floats("activation_beta")
        if attributes.has("clip") {
            _ = try attributes.float("clip", default: 0)
            problems.append("\(node.opType) attribute 'clip'")
        }
        if !problems.isEmpty { throw InferenceError.unsupported(problems) }
    }
}

/// The checked inputs of one RNN, GRU or LSTM run.
private struct RecurrentInputs {
    let sequenceLength: Int
    let batch: Int
    let inputSize: Int
    let x: UnsafePointer<Float>
    let w: UnsafePointer<Float>
    let r: UnsafePointer<Float>
    let bias: UnsafePointer<Float>?
    let lengths: Tensor?
    let initialH: UnsafePointer<Float>?

    /// Checks X, W, R, B, sequence_lens and initial_h (inputs 0–5) for `gates` gates.
    init(_ io: NodeIO, _ attributes: RecurrentAttributes, gates: Int, op: String) throws {
        let x = try io.requiredInput(0)
        let w = try io.requiredInput(1)
        let r = try io.requiredInput(2)
        let b = io.input(3)
        let lengths = io.input(4)
        let initialH = io.input(5)
        for tensor in [x, w, r, b, initialH].compactMap({ $0 }) where tensor.elementType != .float32 {
            throw InferenceError.invalidInput("\(op) takes float32 X, W, R, B and initial states, got \(tensor.elementType)")
        }
        guard x.rank == 3 else { throw InferenceError.invalidInput("\(op) X must be 3-D, got \(x.shape)") }
        let hidden = attributes.hiddenSize
        let dirs = attributes.directions
        sequenceLength = attributes.batchMajor ? x.shape[1] : x.shape[0]
        batch = attributes.batchMajor ? x.shape[0] : x.shape[1]
        inputSize = x.shape[2]
        let gateRows = gates * hidden
        guard w.shape == [dirs, gateRows, inputSize] else {
            throw InferenceError.invalidInput("\(op) W must have shape \([dirs, gateRows, inputSize]), got \(w.shape)")
        }
        guard r.shape == [dirs, gateRows, hidden] else {
            throw InferenceError.invalidInput("\(op) R must have shape \([dirs, gateRows, hidden]), got \(r.shape)")
        }
        if let b, b.shape != [dirs, 2 * gateRows] {
            throw InferenceError.invalidInput("\(op) B must have shape \([dirs, 2 * gateRows]), got \(b.shape)")
        }
        let stateShape = attributes.batchMajor ? [batch, dirs, hidden] : [dirs, batch, hidden]
        if let initialH, initialH.shape != stateShape {
            throw InferenceError.invalidInput("\(op) initial_h must have shape \(stateShape), got \(initialH.shape)")
        }
        if let lengths {
            guard lengths.shape == [batch], lengths.elementType == .int32 || lengths.elementType == .int64 else {
                throw InferenceError.invalidInput("\(op) sequence_lens must be int32 of shape [\(batch)]")
            }
            for row in 0..<batch {
                let length = Self.length(lengths, row)
                guard length >= 0 && length <= sequenceLength else {
                    throw InferenceError.invalidInput(
                        "\(op) sequence_lens[\(row)] = \(length) is outside 0...\(sequenceLength)")
                }
            }
        }
        self.x = x.elements(as: Float.self).baseAddress!
        self.w = w.elements(as: Float.self).baseAddress!
        self.r = r.elements(as: Float.self).baseAddress!
        self.bias = b?.elements(as: Float.self).baseAddress
        self.lengths = lengths
        self.initialH = initialH?.elements(as: Float.self).baseAddress
    }

    private static func length(_ tensor: Tensor, _ row: Int) -> Int {
        tensor.elementType == .int32 ? Int(tensor.elements(as: Int32.self)[row]) : Int(tensor.elements(as: Int64.self)[row])
    }

    /// Whether batch row `row` has a step `t` (sequence_lens, or every row when absent).
    @inline(__always)
    func isActive(_ row: Int, at t: Int) -> Bool {
        guard let lengths else { return true }
        return t < Self.length(lengths, row)
    }
}

/// Where the time-major or batch-major layouts put things.
private struct RecurrentLayout {
    let batchMajor: Bool
    let sequenceLength: Int
    let batch: Int
    let directions: Int
    let hidden: Int

    /// Row of X (and of the input projection) holding step `t` of batch row `b`.
    @inline(__always)
    func inputRow(_ t: Int, _ b: Int) -> Int { batchMajor ? b * sequenceLength + t : t * batch + b }

    /// Offset in Y of the hidden vector at step `t`, direction `d`, batch row `b`.
    @inline(__always)
    func outputOffset(_ t: Int, _ d: Int, _ b: Int) -> Int {
        (batchMajor ? (b * sequenceLength + t) * directions + d : (t * directions + d) * batch + b) * hidden
    }

    /// Offset in Y_h / Y_c / initial states of direction `d`, batch row `b`.
    @inline(__always)
    func stateOffset(_ d: Int, _ b: Int) -> Int {
        (batchMajor ? b * directions + d : d * batch + b) * hidden
    }

    var outputShape: [Int] {
        batchMajor ? [batch, sequenceLength, directions, hidden] : [sequenceLength, directions, batch, hidden]
    }

    var stateShape: [Int] { batchMajor ? [batch, directions, hidden] : [directions, batch, hidden] }

    /// The layout of a run of `inputs` under `attributes`.
    init(_ attributes: RecurrentAttributes, _ inputs: RecurrentInputs) {
        (batchMajor, sequenceLength, batch, directions, hidden) = (
            attributes.batchMajor, inputs.sequenceLength, inputs.batch, attributes.directions, attributes.hiddenSize)
    }

    /// Sets each batch row's state (rows of `hidden` at `state`) for direction `d` from `initial` (an initial_h or
    /// initial_c), or to zero without one.
    func loadState(_ initial: UnsafePointer<Float>?, direction d: Int, into state: UnsafeMutablePointer<Float>) {
        for b in 0..<batch {
            let row = state + b * hidden
            if let initial { row.update(from: initial + stateOffset(d, b), count: hidden) } else { row.update(repeating: 0, count: hidden) }
        }
    }

    /// Output Y, and Y_h when the node has it.
    func outputs(_ io: NodeIO) throws -> (Tensor, Tensor?) {
        (try io.output(0, .float32, outputShape), io.outputIndexes.count > 1 ? try io.output(1, .float32, stateShape) : nil)
    }

    /// Copies each batch row's final state for direction `d` into `output` (Y_h or Y_c), when the node has it.
    func storeState(_ state: UnsafePointer<Float>, direction d: Int, into output: Tensor?) {
        guard let output else { return }
        let target = output.mutableElements(as: Float.self).baseAddress!
        for b in 0..<batch { (target + stateOffset(d, b)).update(from: state + b * hidden, count: hidden) }
    }
}

/// Computes the input projection of every time step at once: rows of X times Wᵀ (+ bias row) into `projection`
/// [seq·batch, gateRows].
private func project(
    _ inputs: RecurrentInputs, weights: UnsafePointer<Float>, biasRow: (Int) -> Float, gateRows: Int,
    into projection: UnsafeMutablePointer<Float>
) {
    let rows = inputs.sequenceLength * inputs.batch
    guard rows > 0 else { return }
    for j in 0..<gateRows { projection[j] = biasRow(j) }
    for row in 1..<rows { (projection + row * gateRows).update(from: projection, count: gateRows) }
    if inputs.inputSize > 0 {
        BLAS.sgemm(
            transposeA: false, transposeB: true, m: rows, n: gateRows, k: inputs.inputSize, alpha: 1,
            a: inputs.x, lda: inputs.inputSize, b: weights, ldb: inputs.inputSize, beta: 1, c: projection, ldc: gateRows)
    }
}

/// GRU, forward / reverse / bidirectional, linear_before_reset 0 or 1, optional B, sequence_lens (any lengths) and
/// initial_h; layout 0 and 1; default activations (Sigmoid, Tanh). Outputs Y and Y_h.
struct GRUKernel: Kernel {
    let attributes: RecurrentAttributes
    let linearBeforeReset: Bool

    init(_ node: NodeDefinition) throws {
        try node.expectInputs(3, 6)
        attributes = try RecurrentAttributes(node, defaultActivations: ["Sigmoid", "Tanh"])
        linearBeforeReset = try node.attributes.int("linear_before_reset", default: 0) != 0
    }

    func run(_ io: NodeIO) throws {
        let inputs = try RecurrentInputs(io, attributes, gates: 3, op: "GRU")
        let hidden = attributes.hiddenSize
        let (seq, batch, dirs) = (inputs.sequenceLength, inputs.batch, attributes.directions)
        let layout = RecurrentLayout(attributes, inputs)
        let (y, yH) = try layout.outputs(io)
        guard batch > 0 else { return }

        let gateRows = 3 * hidden
        let stateCount = batch * hidden
        try [seq * batch + 2 * batch, gateRows].validateShape()
        let projectionCount = seq * batch * gateRows
        let scratch = try io.scratch(floats: projectionCount + batch * gateRows + 3 * stateCount)
        let projection = scratch
        let gates = projection + projectionCount
        let state = gates + batch * gateRows
        let resetState = state + stateCount
        let candidate = resetState + stateCount
        let out = y.mutableElements(as: Float.self).baseAddress!

        for d in 0..<dirs {
            let weights = inputs.w + d * gateRows * inputs.inputSize
            let recurrence = inputs.r + d * gateRows * hidden
            let bias = inputs.bias.map { $0 + d * 2 * gateRows }
            // Wb for every gate, plus Rb for z and r; Rb for h too unless it must stay inside r ⊙ (...).
            project(inputs, weights: weights, biasRow: { j in
                guard let bias else { return 0 }
                return bias[j] + (j < 2 * hidden || !linearBeforeReset ? bias[gateRows + j] : 0)
            }, gateRows: gateRows, into: projection)
            layout.loadState(inputs.initialH, direction: d, into: state)
            let reverse = attributes.isReverse(d)
            for step in 0..<seq {
                let t = reverse ? seq - 1 - step : step
                if linearBeforeReset {
                    BLAS.sgemm(
                        transposeA: false, transposeB: true, m: batch, n: gateRows, k: hidden, alpha: 1,
                        a: state, lda: hidden, b: recurrence, ldb: hidden, beta: 0, c: gates, ldc: gateRows)
                    if let bias {
                        // Rb of the h gate is added inside r ⊙ (...): fold it into the recurrent product first, so the
                        // gate loop below stays one branch-free, vectorizable pass.
                        let rbh = bias + gateRows + 2 * hidden
                        for b in 0..<batch {
                            let g = gates + b * gateRows + 2 * hidden
                            for j in 0..<hidden { g[j] += rbh[j] }
                        }
                    }
                    // Batch rows split across threads; eight hidden units at a time: z, r, n and the new h in one pass.
                    Parallelism.forEachChunk(batch, grain: Swift.max(1, 1024 / hidden)) { _, rows in
                        for b in rows where inputs.isActive(b, at: t) {
                            let x = projection + layout.inputRow(t, b) * gateRows
                            let g = gates + b * gateRows
                            let h = state + b * hidden
                            VectorLoop.forEachBlock(hidden) { block in
                                let z = FastMath.sigmoid(block.load(x) + block.load(g))
                                let r = FastMath.sigmoid(block.load(x + hidden) + block.load(g + hidden))
                                let n = FastMath.tanh(FastMath.fma(r, block.load(g + 2 * hidden), block.load(x + 2 * hidden)))
                                // (1 - z) n + z h
                                block.store(FastMath.fma(z, block.load(h) - n, n), to: h)
                            }
                        }
                    }
                } else {
                    BLAS.sgemm(
                        transposeA: false, transposeB: true, m: batch, n: 2 * hidden, k: hidden, alpha: 1,
                        a: state, lda: hidden, b: recurrence, ldb: hidden, beta: 0, c: gates, ldc: gateRows)
                    for b in 0..<batch {
                        let x = projection + layout.inputRow(t, b) * gateRows
                        let g = gates + b * gateRows
                        let h = state + b * hidden
                        let rh = resetState + b * hidden
                        VectorLoop.forEachBlock(hidden) { block in
                            block.store(FastMath.sigmoid(block.load(x) + block.load(g)), to: g)
                            let r = FastMath.sigmoid(block.load(x + hidden) + block.load(g + hidden))
                            block.store(r * block.load(h), to: rh)
                        }
                    }
                    BLAS.sgemm(
                        transposeA: false, transposeB: true, m: batch, n: hidden, k: hidden, alpha: 1,
                        a: resetState, lda: hidden, b: recurrence + 2 * hidden * hidden, ldb: hidden,
                        beta: 0, c: candidate, ldc: hidden)
                    for b in 0..<batch where inputs.isActive(b, at: t) {
                        let x = projection + layout.inputRow(t, b) * gateRows + 2 * hidden
                        let z = gates + b * gateRows
                        let hh = candidate + b * hidden
                        let h = state + b * hidden
                        VectorLoop.forEachBlock(hidden) { block in
                            let n = FastMath.tanh(block.load(x) + block.load(hh))
                            block.store(FastMath.fma(block.load(z), block.load(h) - n, n), to: h)
                        }
                    }
                }
                for b in 0..<batch {
                    let target = out + layout.outputOffset(t, d, b)
                    if inputs.isActive(b, at: t) {
                        target.update(from: state + b * hidden, count: hidden)
                    } else {
                        target.update(repeating: 0, count: hidden)
                    }
                }
            }
            layout.storeState(state, direction: d, into: yH)
        }
    }
}

/// LSTM, forward / reverse / bidirectional, optional B, sequence_lens (any lengths), initial_h, initial_c and
/// peepholes P; layout 0 and 1; default activations (Sigmoid, Tanh, Tanh), no clip, input_forget 0.
/// Outputs Y, Y_h and Y_c.
struct LSTMKernel: Kernel {
    let attributes: RecurrentAttributes

    init(_ node: NodeDefinition) throws {
        try node.expectInputs(3, 8)
        attributes = try RecurrentAttributes(node, defaultActivations: ["Sigmoid", "Tanh", "Tanh"])
        if try node.attributes.int("input_forget", default: 0) != 0 {
            throw InferenceError.unsupported(["LSTM input_forget 1"])
        }
    }

    func run(_ io: NodeIO) throws {
        let inputs = try RecurrentInputs(io, attributes, gates: 4, op: "LSTM")
        let hidden = attributes.hiddenSize
        let (seq, batch, dirs) = (inputs.sequenceLength, inputs.batch, attributes.directions)
        let layout = RecurrentLayout(attributes, inputs)
        let initialC = io.input(6)
        let peepholes = io.input(7)
        if let initialC, initialC.elementType != .float32 || initialC.shape != layout.stateShape {
            throw InferenceError.invalidInput("LSTM initial_c must be float32 of shape \(layout.stateShape)")
        }
        if let peepholes, peepholes.elementType != .float32 || peepholes.shape != [dirs, 3 * hidden] {
            throw InferenceError.invalidInput("LSTM P must be float32 of shape \([dirs, 3 * hidden])")
        }
        let (y, yH) = try layout.outputs(io)
        let yC = io.outputIndexes.count > 2 ? try io.output(2, .float32, layout.stateShape) : nil
        guard batch > 0 else { return }

        let gateRows = 4 * hidden
        let stateCount = batch * hidden
        try [seq * batch + batch + 2, gateRows].validateShape()
        let projectionCount = seq * batch * gateRows
        let scratch = try io.scratch(floats: projectionCount + batch * gateRows + 2 * stateCount + gateRows)
        let projection = scratch
        let gates = projection + projectionCount
        let hState = gates + batch * gateRows
        let cState = hState + stateCount
        // One row's gates [i | o | f | c̃], each computed by a simple loop the compiler vectorizes.
        let activations = cState + stateCount
        let out = y.mutableElements(as: Float.self).baseAddress!
        let initialCells = initialC?.elements(as: Float.self).baseAddress
        let peepholeWeights = peepholes?.elements(as: Float.self).baseAddress

        for d in 0..<dirs {
            let weights = inputs.w + d * gateRows * inputs.inputSize
            let recurrence = inputs.r + d * gateRows * hidden
            let bias = inputs.bias.map { $0 + d * 2 * gateRows }
            project(inputs, weights: weights, biasRow: { j in
                guard let bias else { return 0 }
                return bias[j] + bias[gateRows + j]
            }, gateRows: gateRows, into: projection)
            layout.loadState(inputs.initialH, direction: d, into: hState)
            layout.loadState(initialCells, direction: d, into: cState)
            // P is [pi, po, pf] per direction.
            let pi = peepholeWeights.map { $0 + d * 3 * hidden }
            let po = pi.map { $0 + hidden }
            let pf = pi.map { $0 + 2 * hidden }
            let reverse = attributes.isReverse(d)
            for step in 0..<seq {
                let t = reverse ? seq - 1 - step : step
                BLAS.sgemm(
                    transposeA: false, transposeB: true, m: batch, n: gateRows, k: hidden, alpha: 1,
                    a: hState, lda: hidden, b: recurrence, ldb: hidden, beta: 0, c: gates, ldc: gateRows)
                for b in 0..<batch {
                    let target = out + layout.outputOffset(t, d, b)
                    guard inputs.isActive(b, at: t) else {
                        target.update(repeating: 0, count: hidden)
                        continue
                    }
                    let x = projection + layout.inputRow(t, b) * gateRows
                    let g = gates + b * gateRows
                    let h = hState + b * hidden, c = cState + b * hidden
                    // Gate order in W, R and B: input, output, forget, cell.
                    let a = activations
                    let (i, o, f, candidate) = (a, a + hidden, a + 2 * hidden, a + 3 * hidden)
                    for k in 0..<gateRows { a[k] = x[k] + g[k] }
                    if let pi, let pf {
                        for j in 0..<hidden {
                            i[j] += pi[j] * c[j]
                            f[j] += pf[j] * c[j]
                        }
                    }
                    VectorLoop.map(i, i, hidden) { FastMath.sigmoid($0) }
                    VectorLoop.map(f, f, hidden) { FastMath.sigmoid($0) }
                    VectorLoop.map(candidate, candidate, hidden) { FastMath.tanh($0) }
                    for j in 0..<hidden { c[j] = f[j] * c[j] + i[j] * candidate[j] }
                    if let po { for j in 0..<hidden { o[j] += po[j] * c[j] } }
                    VectorLoop.map(o, c, h, hidden) { FastMath.sigmoid($0) * FastMath.tanh($1) }
                    target.update(from: h, count: hidden)
                }
            }
            layout.storeState(hState, direction: d, into: yH)
            layout.storeState(cState, direction: d, into: yC)
        }
    }
}

/// RNN (the simple recurrence H = Tanh(X·Wᵀ + H·Rᵀ + Wb + Rb)), forward / reverse / bidirectional, optional B,
/// sequence_lens (any lengths) and initial_h; layout 0 and 1; the default activation (Tanh). Outputs Y and Y_h.
struct RNNKernel: Kernel {
    let attributes: RecurrentAttributes

    init(_ node: NodeDefinition) throws {
        try node.expectInputs(3, 6)
        attributes = try RecurrentAttributes(node, defaultActivations: ["Tanh"])
    }

    func run(_ io: NodeIO) throws {
        let inputs = try RecurrentInputs(io, attributes, gates: 1, op: "RNN")
        let hidden = attributes.hiddenSize
        let (seq, batch, dirs) = (inputs.sequenceLength, inputs.batch, attributes.directions)
        let layout = RecurrentLayout(attributes, inputs)
        let (y, yH) = try layout.outputs(io)
        guard batch > 0 else { return }
        try [seq * batch + 2 * batch, hidden].validateShape()
        let projectionCount = seq * batch * hidden
        let scratch = try io.scratch(floats: projectionCount + 2 * batch * hidden)
        let projection = scratch, state = scratch + projectionCount, recurrent = state + batch * hidden
        let out = y.mutableElements(as: Float.self).baseAddress!
        for d in 0..<dirs {
            let bias = inputs.bias.map { $0 + d * 2 * hidden }
            project(inputs, weights: inputs.w + d * hidden * inputs.inputSize, biasRow: { j in
                bias.map { $0[j] + $0[hidden + j] } ?? 0
            }, gateRows: hidden, into: projection)
            layout.loadState(inputs.initialH, direction: d, into: state)
            for step in 0..<seq {
                let t = attributes.isReverse(d) ? seq - 1 - step : step
                BLAS.sgemm(
                    transposeA: false, transposeB: true, m: batch, n: hidden, k: hidden, alpha: 1,
                    a: state, lda: hidden, b: inputs.r + d * hidden * hidden, ldb: hidden, beta: 0, c: recurrent, ldc: hidden)
                for b in 0..<batch {
                    let h = state + b * hidden, target = out + layout.outputOffset(t, d, b)
                    guard inputs.isActive(b, at: t) else {
                        target.update(repeating: 0, count: hidden)
                        continue
                    }
                    let x = projection + layout.inputRow(t, b) * hidden, r = recurrent + b * hidden
                    VectorLoop.forEachBlock(hidden) { block in block.store(FastMath.tanh(block.load(x) + block.load(r)), to: h) }
                    target.update(from: h, count: hidden)
                }
            }
            layout.storeState(state, direction: d, into: yH)
        }
    }
}
