extension OperatorRegistry {
    /// Convolution, pooling, normalization and recurrent operators (CNN and session models).
    mutating func registerVisionAndSequenceOperators() {
    }
}
