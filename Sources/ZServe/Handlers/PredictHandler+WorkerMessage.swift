import ServingProtocol

extension PredictHandler {
    /// A worker's answer to a work or batch message from the broker (nil for any other message): the result or
    /// results, in the batch's order — or `missing` when the broker routed them to a version this worker does not
    /// have (any more), so the broker routes them again.
    func result(for message: WorkerMessage) -> WorkerMessage? {
        switch message {
        case .work(let item):
            let reply: Reply
            if item.method == .predict {
                let incoming = Incoming(payload: item.payload, receivedAt: item.receivedAt)
                switch routed(item, incoming: incoming) {
                case .success(let servable): reply = handle(incoming, servable: servable)
                case .failure(let missing): return .missing(missing.key)
                }
            } else {
                reply = .error(ServingError(.unimplemented, "workers serve Predict only"))
            }
            return .result(origin: item.origin, envelope: item.envelope, status: reply.statusFrame[...], response: reply.response[...])
        case .batch(let items):
            var predictions: [(incoming: Incoming, servable: Servable?)] = []
            predictions.reserveCapacity(items.count)
            for item in items where item.method == .predict {
                let incoming = Incoming(payload: item.payload, receivedAt: item.receivedAt)
                switch routed(item, incoming: incoming) {
                case .success(let servable): predictions.append((incoming, servable))
                case .failure(let missing): return .missing(missing.key)
                }
            }
            var replies = handle(batch: predictions)[...]
            return .results(items.map { item in
                let reply = item.method == .predict
                    ? replies.popFirst()! : .error(ServingError(.unimplemented, "workers serve Predict only"))
                return WorkResult(origin: item.origin, envelope: item.envelope, status: reply.statusFrame[...], response: reply.response[...])
            })
        default:
            return nil
        }
    }

    /// The version the broker routed `item` to (nil when it did not route it, or when the payload is unreadable: the
    /// handler then resolves the model spec itself or answers INVALID_ARGUMENT), or the version this worker lacks.
    private func routed(_ item: WorkItem, incoming: Incoming) -> Result<Servable?, MissingVersion> {
        guard item.version > 0, case .success(let request) = incoming.request else { return .success(nil) }
        let key = VersionKey(model: request.model, version: item.version)
        guard let servable = registry.servable(key) else { return .failure(MissingVersion(key: key)) }
        return .success(servable)
    }

    private struct MissingVersion: Error {
        let key: VersionKey
    }
}
