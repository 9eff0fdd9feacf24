import ServingProtocol

extension PredictHandler {
    /// A worker's answer to a work or batch message from the broker (nil for any other message): the result or
    /// results, in the batch's order.
    func result(for message: WorkerMessage) -> WorkerMessage? {
        switch message {
        case .work(let item):
            let reply = item.method == .predict
                ? handle(payload: item.payload, receivedAt: item.receivedAt)
                : .error(ServingError(.unimplemented, "workers serve Predict only"))
            return .result(origin: item.origin, envelope: item.envelope, status: reply.statusFrame, response: reply.response)
        case .batch(let items):
            let predictions = items.filter { $0.method == .predict }
            var replies = handle(batch: predictions.map { ($0.payload, $0.receivedAt) })[...]
            return .results(items.map { item in
                let reply = item.method == .predict
                    ? replies.popFirst()! : .error(ServingError(.unimplemented, "workers serve Predict only"))
                return WorkResult(origin: item.origin, envelope: item.envelope, status: reply.statusFrame, response: reply.response)
            })
        default:
            return nil
        }
    }
}
