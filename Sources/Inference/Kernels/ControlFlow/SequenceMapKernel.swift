/// SequenceMap (opset 17): runs `body` once per position of the input sequence, giving each output a sequence of
/// the body's results.
///
/// The body takes the sequence's element at the position, then each additional input: a sequence's element at the
/// same position (every sequence must be as long as the first) or a tensor, the same one each time. Its outputs
/// are tensors; each, copied into the node's session (the body's reuses its buffers), becomes one element of the
/// node's output at that position.
struct SequenceMapKernel: RunsSubgraphs {
    let body: Subgraph
    /// The node's own inputs (the captured outer values follow them).
    let inputCount: Int
    var subgraphs: [Subgraph] { [body] }
    /// The outputs are sequences, which the float16 check does not follow.
    var outputTypes: [ElementType?] { [ElementType?](repeating: nil, count: body.outputCount) }

    init(_ node: NodeDefinition) throws {
        guard node.inputCount >= 1 else { throw InferenceError.invalidModel("\(node.label) needs an input sequence") }
        inputCount = node.inputCount
        guard let planner = node.subgraphs else { throw InferenceError.invalidModel("\(node.label) has no body graph") }
        body = try planner.plan("body")
        guard body.inputCount == node.inputCount else {
            throw InferenceError.invalidModel(
                "\(node.label): body takes \(body.inputCount) inputs, the node gives it \(node.inputCount)")
        }
        guard body.outputCount == node.outputCount else {
            throw InferenceError.invalidModel(
                "\(node.label): body has \(body.outputCount) outputs, the node has \(node.outputCount)")
        }
    }

    func run(_ io: NodeIO) throws {
        let first = try io.sequence(0)
        let count = first.tensors.count
        var inputs: [Value] = [.sequence(first)]
        for position in 1..<inputCount {
            guard let value = io.value(position) else { throw InferenceError.invalidInput("missing input \(position)") }
            if case .sequence(let sequence) = value, sequence.tensors.count != count {
                throw InferenceError.invalidInput(
                    "input \(position) is a sequence of \(sequence.tensors.count) tensors, input 0 of \(count)")
            }
            inputs.append(value)
        }
        var results = [[Tensor]](repeating: [], count: body.outputCount)
        for index in 0..<count {
            let run = body.start(io)
            for (position, value) in inputs.enumerated() {
                if case .sequence(let sequence) = value {
                    try run.bind(position, .tensor(sequence.tensors[index]))
                } else {
                    try run.bind(position, value)
                }
            }
            for (position, tensor) in try run.runTensors().enumerated() {
                results[position].append(try io.sequenceElement(copying: tensor))
            }
        }
        for (position, tensors) in results.enumerated() {
            let elementType = tensors.first?.elementType ?? body.outputType(position) ?? .float32
            try io.setOutput(position, value: .sequence(try TensorSequence(elementType: elementType, tensors: tensors)))
        }
    }
}
