/// TensorScatter (opset 24): a KV-cache update. The output is `past_cache` with, for each batch entry b, `update`'s
/// sequence positions written along `axis` (not 0; default −2) from `write_indices[b]` (0 when absent) on — wrapping
/// around the axis in `circular` mode, and required to fit in `linear` mode. Elements are moved, never computed on:
/// any element type but strings (its output is a plain one).
struct TensorScatterKernel: Kernel {
    let circular: Bool
    let axis: Int
    let label: String

    init(_ node: NodeDefinition) throws {
        try node.expectInputs(2, 3)
        let mode = try node.attributes.string("mode") ?? "linear"
        guard mode == "linear" || mode == "circular" else {
            throw InferenceError.invalidModel("\(node.label): mode '\(mode)' is not linear or circular")
        }
        circular = mode == "circular"
        axis = try node.attributes.int("axis", default: -2)
        label = node.label
    }

    func run(_ io: NodeIO) throws {
        let past = try io.requiredInput(0), update = try io.requiredInput(1)
        let axis = try normalizedAxis(self.axis, rank: past.rank)
        guard axis > 0 else { throw InferenceError.invalidInput("\(label): axis must not be the batch axis") }
        guard update.elementType == past.elementType, update.rank == past.rank,
              (0..<past.rank).allSatisfy({ $0 == axis ? update.shape[$0] <= past.shape[$0] : update.shape[$0] == past.shape[$0] })
        else {
            throw InferenceError.invalidInput("\(label): update \(update.elementType) \(update.shape) does not fit cache \(past.elementType) \(past.shape) along axis \(axis)")
        }
        let batch = past.shape[0]
        let starts = try io.input(2).map { tensor throws(InferenceError) -> [Int] in
            guard let values = tensor.integers(), values.count == batch else {
                throw InferenceError.invalidInput("\(label): write_indices must be \(batch) integers")
            }
            return values
        } ?? [Int](repeating: 0, count: batch)
        let (capacity, length) = (past.shape[axis], update.shape[axis])
        for start in starts where start < 0 || (!circular && start > capacity - length) || (circular && capacity == 0 && length > 0) {
            throw InferenceError.invalidInput(
                "\(label): write index \(start) with \(length) positions does not fit \(capacity) (linear mode)")
        }
        let y = try io.output(0, past.elementType, past.shape)
        past.copyElements(into: y)
        let inner = past.shape[(axis + 1)...].reduce(1, *)
        let prefixes = past.shape[..<axis].reduce(1, *)
        let perBatch = prefixes / max(batch, 1)
        for prefix in 0..<prefixes {
            let start = starts[prefix / max(perBatch, 1)]
            for position in 0..<length {
                let target = circular ? (start % capacity + position) % capacity : start + position
                update.copyElements(inner, from: (prefix * length + position) * inner, into: y, at: (prefix * capacity + target) * inner)
            }
        }
    }
}
