extension OperatorRegistry {
    /// The Transformer block's own operators: attention, rotary position embedding, layer and RMS normalization, and
    /// the training losses exporters leave in classification heads.
    mutating func registerAttentionOperators() {
        register("Attention", AttentionKernel.init)
        register("RotaryEmbedding", RotaryEmbeddingKernel.init)
        register("LayerNormalization") { try LayerNormalizationKernel(centered: true, $0) }
        register("RMSNormalization") { try LayerNormalizationKernel(centered: false, $0) }
        register("NegativeLogLikelihoodLoss") { try LossKernel(softmax: false, $0) }
        register("SoftmaxCrossEntropyLoss") { try LossKernel(softmax: true, $0) }
    }
}
