/// Plans the graph attributes of one control-flow node (If's branches, Loop's and Scan's body) while the loader
/// plans the graph the node is in; what a kernel factory uses through `NodeDefinition.subgraphs`.
///
/// Each subgraph is planned in a child scope of the node's graph: the outer values it reads are gathered here as
/// extra inputs of the node (`capturedValues`, after its own inputs), shared between the node's subgraphs. Used by
/// one loader on one thread.
final class SubgraphPlanner {
    private let planner: GraphPlanner
    private let scope: GraphScope
    private let attributes: NodeAttributes
    private let label: String
    /// The node input slot of the first captured value: the node's own input count.
    private let firstSlot: Int
    /// The outer values the node's subgraphs read, in the order of the node's extra input slots.
    private(set) var capturedValues: [Int] = []

    init(planner: GraphPlanner, scope: GraphScope, attributes: NodeAttributes, label: String, firstSlot: Int) {
        self.planner = planner
        self.scope = scope
        self.attributes = attributes
        self.label = label
        self.firstSlot = firstSlot
    }

    /// Plans the GRAPH attribute `name`.
    ///
    /// - Throws: `.invalidModel` when the attribute is missing or its graph is malformed (named with the node and
    ///   attribute), `.unsupported` naming what the subgraph uses that this runtime does not implement.
    func plan(_ name: String) throws -> Subgraph {
        guard let graph = try attributes.graph(name) else {
            throw InferenceError.invalidModel("\(label) has no graph attribute '\(name)'")
        }
        let child = GraphScope(parent: scope)
        let plan: ModelLoader.Plan
        do {
            plan = try planner.plan(graph, in: child)
        } catch InferenceError.invalidModel(let message) {
            throw InferenceError.invalidModel("\(label) \(name): \(message)")
        }
        var slots: [Int] = []
        for capture in child.captures {
            if let existing = capturedValues.firstIndex(of: capture.outer) {
                slots.append(firstSlot + existing)
            } else {
                capturedValues.append(capture.outer)
                slots.append(firstSlot + capturedValues.count - 1)
            }
        }
        return Subgraph(name: name, model: Model(plan: plan), captureSlots: slots)
    }
}
