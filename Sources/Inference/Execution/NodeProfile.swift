/// Time spent per node of a model over the runs a session made while profiling.
public struct NodeProfile: Sendable {
    /// One node: its label ("Conv 'conv1'+Relu 'relu1'" after fusion), operator and total time.
    public struct Entry: Sendable {
        public let label: String
        public let opType: String
        public fileprivate(set) var total: Duration = .zero
    }

    public private(set) var entries: [Entry]

    /// An empty profile for the nodes of `model`, in execution order.
    public init(model: Model) {
        entries = model.nodes.map { Entry(label: $0.label, opType: $0.opType) }
    }

    mutating func add(_ time: Duration, node position: Int) {
        entries[position].total += time
    }
}
