extension OperatorRegistry {
    /// Convolution, pooling, normalization and recurrent operators (CNN and session models).
    mutating func registerVisionAndSequenceOperators() {
        register("Conv", ConvKernel.init)
        register("MaxPool", MaxPoolKernel.init)
        register("AveragePool", AveragePoolKernel.init)
        register("GlobalAveragePool", GlobalAveragePoolKernel.init)
        register("BatchNormalization", BatchNormalizationKernel.init)
        register("Dropout", DropoutKernel.init)
        register("GRU", GRUKernel.init)
        register("LSTM", LSTMKernel.init)
    }
}
