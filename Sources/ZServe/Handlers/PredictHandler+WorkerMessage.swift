import ServingProtocol

extension PredictHandler {
    /// A worker's answer to a work or batch message from the broker (nil for any other message): the result or
    /// results, in the batch's order — or `missing` when the broker routed them to a version this worker does not
    /// have (any more), so the broker routes them again.
    func result(for message: WorkerMessage) -> WorkerMessage? {
        switch message {
        case .work(let item):
            let servable: Servable?
            switch routed(item) {
            case .success(let routedTo): servable = routedTo
            case .failure(let missing): return .missing(missing.key)
            }
            let reply = item.method == .predict
                ? handle(payload: item.payload, receivedAt: item.receivedAt, servable: servable)
                : .error(ServingError(.unimplemented, "workers serve Predict only"))
            return .result(origin: item.origin, envelope: item.envelope, status: reply.statusFrame, response: reply.response)
        case .batch(let items):
            var servables: [Servable?] = []
            for item in items {
                switch routed(item) {
                case .success(let servable): servables.append(servable)
                case .failure(let missing): return .missing(missing.key)
                }
            }
            let predictions = items.indices.filter { items[$0].method == .predict }
            var replies = handle(batch: predictions.map { (items[$0].payload, items[$0].receivedAt, servables[$0]) })[...]
            return .results(items.map { item in
                let reply = item.method == .predict
                    ? replies.popFirst()! : .error(ServingError(.unimplemented, "workers serve Predict only"))
                return WorkResult(origin: item.origin, envelope: item.envelope, status: reply.statusFrame, response: reply.response)
            })
        default:
            return nil
        }
    }

    /// The version the broker routed `item` to (nil when it did not route it: the handler resolves the request's
    /// model spec itself), or the version this worker lacks.
    private func routed(_ item: WorkItem) -> Result<Servable?, MissingVersion> {
        guard item.version > 0 else { return .success(nil) }
        let key = VersionKey(model: PredictHeader(payload: item.payload).model, version: item.version)
        guard let servable = registry.servable(key) else { return .failure(MissingVersion(key: key)) }
        return .success(servable)
    }

    private struct MissingVersion: Error {
        let key: VersionKey
    }
}
