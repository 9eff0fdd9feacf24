/// Scan (opsets 8–25): runs `body` once per element of M scan inputs along their scan axes, carrying N state values
/// and stacking K scan outputs.
///
/// Scan-9 and later: inputs are (N initial states, M scan inputs); `scan_input_axes` / `scan_input_directions` choose
/// each input's axis and direction, `scan_output_axes` / `scan_output_directions` where and in which order each
/// output stacks (negative axes count from the back). Scan-8: a leading optional `sequence_lens` input, then states
/// and scan inputs that all have a batch axis 0 (scan axis 1); each batch item runs separately for its own length,
/// `directions` reverses scan inputs within that length, and scan outputs past it are zeros. The body takes
/// (N states, M slices) and returns (N states, K slices).
struct ScanKernel: RunsSubgraphs {
    let body: Subgraph
    let states: Int
    let scanInputs: Int
    let scanOutputs: Int
    /// Scan-8's batch form.
    let batched: Bool
    let inputAxes: [Int]
    let inputReversed: [Bool]
    let outputAxes: [Int]
    let outputReversed: [Bool]
    var subgraphs: [Subgraph] { [body] }
    var outputTypes: [ElementType?] { (0..<body.outputCount).map(body.outputType) }

    init(_ node: NodeDefinition) throws {
        let attributes = node.attributes
        guard let m = try attributes.int("num_scan_inputs"), m >= 1 else {
            throw InferenceError.invalidModel("\(node.label) needs num_scan_inputs ≥ 1")
        }
        scanInputs = m
        batched = node.opsetVersion < 9
        states = node.inputCount - m - (batched ? 1 : 0)
        scanOutputs = node.outputCount - states
        guard states >= 0, scanOutputs >= 0 else {
            throw InferenceError.invalidModel(
                "\(node.label) has \(node.inputCount) inputs and \(node.outputCount) outputs, which do not fit "
                    + "num_scan_inputs \(m)")
        }
        func flags(_ name: String, count: Int) throws -> [Int] {
            guard let given = try attributes.ints(name) else { return [Int](repeating: 0, count: count) }
            guard given.count == count else {
                throw InferenceError.invalidModel("\(node.label): \(name) has \(given.count) entries, needs \(count)")
            }
            return given
        }
        if batched {
            inputAxes = [Int](repeating: 1, count: m)
            inputReversed = try flags("directions", count: m).map { $0 != 0 }
            outputAxes = [Int](repeating: 0, count: scanOutputs)
            outputReversed = [Bool](repeating: false, count: scanOutputs)
        } else {
            inputAxes = try flags("scan_input_axes", count: m)
            inputReversed = try flags("scan_input_directions", count: m).map { $0 != 0 }
            outputAxes = try flags("scan_output_axes", count: scanOutputs)
            outputReversed = try flags("scan_output_directions", count: scanOutputs).map { $0 != 0 }
        }
        guard let planner = node.subgraphs else { throw InferenceError.invalidModel("\(node.label) has no body graph") }
        body = try planner.plan("body")
        guard body.inputCount == states + m else {
            throw InferenceError.invalidModel(
                "\(node.label): body takes \(body.inputCount) inputs; it needs \(states + m) (\(states) states, "
                    + "\(m) scan input elements)")
        }
        guard body.outputCount == states + scanOutputs else {
            throw InferenceError.invalidModel(
                "\(node.label): body has \(body.outputCount) outputs; the node needs \(states + scanOutputs) "
                    + "(\(states) states, \(scanOutputs) scan outputs)")
        }
    }

    func run(_ io: NodeIO) throws {
        if batched { try runBatched(io) } else { try runUnbatched(io) }
    }

    /// Scan-9 and later.
    private func runUnbatched(_ io: NodeIO) throws {
        var values = try (0..<states).map { try io.requiredInput($0) }
        let inputs = try (0..<scanInputs).map { try io.requiredInput(states + $0) }
        let axes = try zip(inputs, inputAxes).map { input, axis throws(InferenceError) in
            try normalizedAxis(axis, rank: input.rank)
        }
        let length = inputs[0].shape[axes[0]]
        for (input, axis) in zip(inputs, axes) where input.shape[axis] != length {
            throw InferenceError.invalidInput(
                "Scan inputs disagree on the sequence length: \(inputs[0].shape) along axis \(axes[0]), "
                    + "\(input.shape) along axis \(axis)")
        }
        var stacks = (0..<scanOutputs).map {
            StackedOutput(position: states + $0, leading: [length], axis: outputAxes[$0])
        }
        for step in 0..<length {
            let run = body.start(io)
            for (position, value) in values.enumerated() { try run.bind(position, .tensor(value)) }
            values.removeAll(keepingCapacity: true)
            for (i, input) in inputs.enumerated() {
                let index = inputReversed[i] ? length - 1 - step : step
                try run.bind(states + i, sliceOf: input, axes: [axes[i]], at: [index])
            }
            let outputs = try run.runTensors()
            values.append(contentsOf: outputs[0..<states])
            for k in 0..<scanOutputs {
                try stacks[k].place(outputs[states + k], at: outputReversed[k] ? length - 1 - step : step, io)
            }
        }
        for (position, value) in values.enumerated() { try io.setOutput(position, copying: value) }
        for k in 0..<scanOutputs { try stacks[k].finish(declared: body.declaredOutput(states + k), io) }
    }

    /// Scan-8: every state and scan input has a batch axis 0; each batch item runs for its own sequence length.
    private func runBatched(_ io: NodeIO) throws {
        let initial = try (0..<states).map { try io.requiredInput(1 + $0) }
        let inputs = try (0..<scanInputs).map { try io.requiredInput(1 + states + $0) }
        for input in inputs + initial where input.rank < 1 {
            throw InferenceError.invalidInput("Scan-8 inputs need a batch axis, got shape \(input.shape)")
        }
        for input in inputs where input.rank < 2 {
            throw InferenceError.invalidInput("Scan-8 scan inputs need batch and sequence axes, got shape \(input.shape)")
        }
        let batch = inputs[0].shape[0]
        let maxLength = inputs[0].shape[1]
        for input in inputs + initial where input.shape[0] != batch {
            throw InferenceError.invalidInput("Scan inputs disagree on the batch size: \(inputs[0].shape), \(input.shape)")
        }
        for input in inputs where input.shape[1] != maxLength {
            throw InferenceError.invalidInput(
                "Scan inputs disagree on the sequence length: \(inputs[0].shape), \(input.shape)")
        }
        var lengths = [Int](repeating: maxLength, count: batch)
        if let given = io.input(0) {
            lengths = try given.integerList("Scan sequence_lens")
            guard lengths.count == batch, lengths.allSatisfy({ (0...maxLength).contains($0) }) else {
                throw InferenceError.invalidInput(
                    "Scan sequence_lens \(lengths) must give \(batch) lengths between 0 and \(maxLength)")
            }
        }
        var finalStates = (0..<states).map { StackedOutput(position: $0, leading: [batch]) }
        var stacks = (0..<scanOutputs).map {
            StackedOutput(position: states + $0, leading: [batch, maxLength], zeroFill: true)
        }
        for item in 0..<batch {
            var values: [Tensor] = []
            for step in 0..<lengths[item] {
                let run = body.start(io)
                for position in 0..<states {
                    if step == 0 {
                        try run.bind(position, sliceOf: initial[position], axes: [0], at: [item])
                    } else {
                        try run.bind(position, .tensor(values[position]))
                    }
                }
                values.removeAll(keepingCapacity: true)
                for (i, input) in inputs.enumerated() {
                    let index = inputReversed[i] ? lengths[item] - 1 - step : step
                    try run.bind(states + i, sliceOf: input, axes: [0, 1], at: [item, index])
                }
                let outputs = try run.runTensors()
                values.append(contentsOf: outputs[0..<states])
                for k in 0..<scanOutputs { try stacks[k].place(outputs[states + k], at: item * maxLength + step, io) }
            }
            for position in 0..<states {
                if values.isEmpty {
                    // A sequence of length 0 leaves the initial state.
                    try finalStates[position].place(try slice(initial[position], item, io), at: item, io)
                } else {
                    try finalStates[position].place(values[position], at: item, io)
                }
            }
        }
        for position in 0..<states {
            try finalStates[position].finish(declared: body.declaredOutput(position), io)
        }
        for k in 0..<scanOutputs { try stacks[k].finish(declared: body.declaredOutput(states + k), io) }
    }

    /// Batch item `item` of `tensor` as a tensor of its own: a copy outside the session's pool, made only for a
    /// zero-length sequence's final state.
    private func slice(_ tensor: Tensor, _ item: Int, _ io: NodeIO) throws(InferenceError) -> Tensor {
        let shape = Array(tensor.shape.dropFirst())
        let bytes = shape.elementCount * tensor.elementType.byteSize
        return Tensor(
            elementType: tensor.elementType, shape: shape,
            copying: UnsafeRawBufferPointer(start: tensor.storage.pointer + item * bytes, count: bytes))
    }
}
