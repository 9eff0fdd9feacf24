/// The value names one graph can read while it is planned: its own, and through captures those of the graphs
/// enclosing it (a subgraph of an If, Loop or Scan node reads outer values by name).
///
/// A name not defined in this graph is looked up in the enclosing scope; when found there it gets a value of its own
/// here, bound before each run of the subgraph (a capture), or, when it is a constant there, the same constant (no
/// binding, and load-time folds still see it). Owned by the one loader planning the graph; not thread-safe.
final class GraphScope {
    let parent: GraphScope?
    private var valueIndex: [String: Int] = [:]
    /// Values known at load (initializers, folded Constant nodes, constants captured from outer graphs).
    var constants: [Int: Tensor] = [:]
    /// The element types followed through this graph for the load-time float16 and string checks.
    var typeFlow = ElementTypeFlow()
    /// The enclosing graph's values this graph reads: (index there, index here), in first-read order.
    private(set) var captures: [(outer: Int, inner: Int)] = []
    /// Names an inner graph may not capture: the outputs of the node whose subgraphs are being planned.
    var hidden: Set<String> = []

    init(parent: GraphScope?) {
        self.parent = parent
    }

    /// Number of values defined (or captured) so far: the graph's value numbering is 0..<count.
    var count: Int { valueIndex.count }

    /// Numbers a new value `name`.
    ///
    /// - Throws: `.invalidModel` when the graph already defines `name`.
    func define(_ name: String) throws -> Int {
        guard valueIndex[name] == nil else {
            throw InferenceError.invalidModel("value '\(name)' is defined more than once")
        }
        let index = valueIndex.count
        valueIndex[name] = index
        return index
    }

    /// Whether this graph itself (not an enclosing one) defines `name`.
    func definesLocally(_ name: String) -> Bool {
        valueIndex[name] != nil
    }

    /// The index of `name` in this graph, capturing it from an enclosing graph when it is defined there; nil when no
    /// graph in scope defines it.
    func resolve(_ name: String) -> Int? {
        guard !hidden.contains(name) else { return nil }
        if let index = valueIndex[name] { return index }
        guard let parent, let outer = parent.resolve(name) else { return nil }
        let inner = valueIndex.count
        valueIndex[name] = inner
        if let constant = parent.constants[outer] {
            constants[inner] = constant
        } else {
            captures.append((outer, inner))
        }
        if let type = parent.typeFlow.type(of: outer) { typeFlow.set(inner, type) }
        return inner
    }
}
