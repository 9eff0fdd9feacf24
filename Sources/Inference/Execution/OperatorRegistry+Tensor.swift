extension OperatorRegistry {
    /// Indexing, reduction, comparison, shape and element-wise math operators (recommendation and Transformer models).
    mutating func registerTensorOperators() {
    }
}
