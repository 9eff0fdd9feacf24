extension OperatorRegistry {
    /// Convolution, resampling, pooling, normalization, detection and recurrent operators (CNN and session models).
    mutating func registerVisionAndSequenceOperators() {
        register("Conv", ConvKernel.init)
        register("DeformConv", DeformConvKernel.init)
        register("ConvTranspose", ConvTransposeKernel.init)
        register("GridSample", GridSampleKernel.init)
        register("AffineGrid", AffineGridKernel.init)
        register("RoiAlign", RoiAlignKernel.init)
        register("NonMaxSuppression", NonMaxSuppressionKernel.init)
        register("Resize") { try ResizeKernel(upsample: false, $0) }
        register("Upsample") { try ResizeKernel(upsample: true, $0) }
        register("MaxPool", MaxPoolKernel.init)
        register("MaxUnpool", MaxUnpoolKernel.init)
        register("Col2Im", Col2ImKernel.init)
        register("AveragePool") { try AveragePoolKernel(lp: false, $0) }
        register("LpPool") { try AveragePoolKernel(lp: true, $0) }
        register("GlobalAveragePool") { try GlobalPoolKernel(largest: false, $0) }
        register("GlobalMaxPool") { try GlobalPoolKernel(largest: true, $0) }
        register("InstanceNormalization") { try GroupNormalizationKernel(instance: true, $0) }
        register("GroupNormalization") { try GroupNormalizationKernel(instance: false, $0) }
        register("LRN", LocalResponseNormalizationKernel.init)
        register("BatchNormalization", BatchNormalizationKernel.init)
        register("Dropout", DropoutKernel.init)
        register("GRU", GRUKernel.init)
        register("LSTM", LSTMKernel.init)
        register("RNN", RNNKernel.init)
    }
}
