/// If (opsets 1–25): runs `then_branch` or `else_branch` on a single bool condition; the branch's outputs, which may
/// differ in shape between the branches, become the node's.
///
/// At load both branches are planned, must take no inputs, have as many outputs as the node and declare the same
/// element type for each.
struct IfKernel: RunsSubgraphs {
    let thenBranch: Subgraph
    let elseBranch: Subgraph
    var subgraphs: [Subgraph] { [thenBranch, elseBranch] }
    var outputTypes: [ElementType?] {
        (0..<thenBranch.outputCount).map { thenBranch.outputType($0) ?? elseBranch.outputType($0) }
    }

    init(_ node: NodeDefinition) throws {
        try node.expectInputs(1)
        guard let planner = node.subgraphs else {
            throw InferenceError.invalidModel("\(node.label) has no then_branch and else_branch graphs")
        }
        thenBranch = try planner.plan("then_branch")
        elseBranch = try planner.plan("else_branch")
        for branch in [thenBranch, elseBranch] {
            guard branch.inputCount == 0 else {
                throw InferenceError.invalidModel(
                    "\(node.label): \(branch.name) declares \(branch.inputCount) inputs; an If branch takes none")
            }
            guard branch.outputCount == node.outputCount else {
                throw InferenceError.invalidModel(
                    "\(node.label): \(branch.name) has \(branch.outputCount) outputs, the node has \(node.outputCount)")
            }
        }
        for position in 0..<node.outputCount {
            if let a = thenBranch.outputType(position), let b = elseBranch.outputType(position), a != b {
                throw InferenceError.invalidModel(
                    "\(node.label): output \(position) is \(a) in then_branch and \(b) in else_branch")
            }
        }
    }

    func run(_ io: NodeIO) throws {
        let condition = try io.requiredInput(0).singleBool("If condition")
        let outputs = try (condition ? thenBranch : elseBranch).start(io).run()
        for (position, value) in outputs.enumerated() { try io.setOutput(position, copying: value) }
    }
}
