/// Loop (opsets 1–25): runs `body` while the iteration number is below the trip count M and the condition holds,
/// carrying N values from one iteration to the next and stacking K scan outputs along a new axis 0.
///
/// Inputs: M (int64, optional: no bound), cond (bool, optional: true), then the N initial values. The body takes
/// (iteration number, condition, N values) and returns (condition, N values, K scan slices). As onnxruntime does,
/// the body's condition is honored whether or not the node has a cond input. After 0 iterations the final values are
/// the initial ones and each scan output is empty, shaped from the body's declared output (unknown dimensions 0).
/// Carried values may change shape between iterations, and may be sequences or optionals; scan slices are tensors of
/// one shape.
struct LoopKernel: RunsSubgraphs {
    let body: Subgraph
    /// N: loop-carried values.
    let carried: Int
    /// K: scan outputs.
    let scans: Int
    var subgraphs: [Subgraph] { [body] }
    var outputTypes: [ElementType?] { (1..<body.outputCount).map(body.outputType) }

    init(_ node: NodeDefinition) throws {
        guard node.inputCount >= 2 else {
            throw InferenceError.invalidModel(
                "\(node.label) takes at least 2 inputs (trip count, condition), has \(node.inputCount)")
        }
        carried = node.inputCount - 2
        scans = node.outputCount - carried
        guard scans >= 0 else {
            throw InferenceError.invalidModel(
                "\(node.label) has \(carried) loop-carried inputs but only \(node.outputCount) outputs")
        }
        guard let planner = node.subgraphs else { throw InferenceError.invalidModel("\(node.label) has no body graph") }
        body = try planner.plan("body")
        guard body.inputCount == 2 + carried else {
            throw InferenceError.invalidModel(
                "\(node.label): body takes \(body.inputCount) inputs; with \(carried) loop-carried values it needs "
                    + "\(2 + carried) (iteration number, condition, the loop-carried values)")
        }
        guard body.outputCount == 1 + carried + scans else {
            throw InferenceError.invalidModel(
                "\(node.label): body has \(body.outputCount) outputs; the node needs \(1 + carried + scans) "
                    + "(condition, \(carried) loop-carried values, \(scans) scan outputs)")
        }
    }

    func run(_ io: NodeIO) throws {
        let tripCount = try io.input(0).map { try $0.singleInteger("Loop trip count M") } ?? .max
        var condition = try io.input(1).map { try $0.singleBool("Loop condition") } ?? true
        var values = try (0..<carried).map { position throws(InferenceError) in
            guard let value = io.value(2 + position) else {
                throw InferenceError.invalidInput("missing loop-carried input \(2 + position)")
            }
            return value
        }
        var stacks = (0..<scans).map { StackedOutput(position: carried + $0, leading: nil) }
        var iteration = 0
        while iteration < tripCount && condition {
            let run = body.start(io)
            try run.bind(0, scalar: Int64(iteration), .int64)
            try run.bind(1, scalar: UInt8(condition ? 1 : 0), .bool)
            for (position, value) in values.enumerated() { try run.bind(2 + position, value) }
            // The body's session may reuse an input's memory after its last reader only if nothing else holds it.
            values.removeAll(keepingCapacity: true)
            let outputs = try run.run()
            condition = try Self.tensor(outputs[0], "condition output").singleBool("Loop body's condition output")
            values.append(contentsOf: outputs[1..<(1 + carried)])
            for k in 0..<scans { try stacks[k].place(try Self.tensor(outputs[1 + carried + k], "scan output \(k)"), io) }
            iteration += 1
        }
        for (position, value) in values.enumerated() { try io.setOutput(position, copying: value) }
        for k in 0..<scans { try stacks[k].finish(declared: body.declaredOutput(1 + carried + k), io) }
    }

    /// A body output that must be a tensor.
    private static func tensor(_ value: Value, _ what: String) throws(InferenceError) -> Tensor {
        guard let tensor = value.tensor else {
            throw InferenceError.invalidInput("Loop body's \(what) is \(value.kindDescription), not a tensor")
        }
        return tensor
    }
}

extension Tensor {
    /// The one value of a single-element integer tensor (a trip count).
    func singleInteger(_ what: String) throws(InferenceError) -> Int {
        guard count == 1, let value = integers()?.first else {
            throw InferenceError.invalidInput("\(what) must be a single int64, got \(elementType) \(shape)")
        }
        return value
    }
}
