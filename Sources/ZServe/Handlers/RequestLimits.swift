import ServingProtocol

/// How large one Predict input may be: elements per input tensor and rows (the first dimension). Checked on the
/// shape a request declares, before its bytes are copied anywhere; the frontend's `--max-message-size` bounds the
/// whole message before that.
public struct RequestLimits: Sendable, Equatable {
    public var maxTensorElements = 1 << 24
    public var maxBatchRows = 1 << 16

    public init() {}

    /// Throws RESOURCE_EXHAUSTED naming the input and the limit it exceeds. `shape` has been validated (no negative
    /// dimension, no overflowing element count).
    func check(input name: String, shape: [Int]) throws(ServingError) {
        if let rows = shape.first, rows > maxBatchRows {
            throw ServingError(.resourceExhausted, "input '\(name)' has \(rows) rows, over the --max-batch-rows limit of \(maxBatchRows)")
        }
        let elements = shape.reduce(1, *)
        guard elements <= maxTensorElements else {
            throw ServingError(.resourceExhausted,
                "input '\(name)' has \(elements) elements, over the --max-tensor-elements limit of \(maxTensorElements)")
        }
    }
}
