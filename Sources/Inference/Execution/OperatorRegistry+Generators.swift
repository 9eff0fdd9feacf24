extension OperatorRegistry {
    /// Operators that generate tensors from sizes or indices (ranges, identity matrices, one-hot vectors, the signal
    /// windows) and the discrete Fourier transform.
    mutating func registerGeneratorOperators() {
        register("Range", RangeKernel.init)
        register("EyeLike", EyeLikeKernel.init)
        register("OneHot", OneHotKernel.init)
        register("HannWindow") { try WindowKernel(.hann, $0) }
        register("HammingWindow") { try WindowKernel(.hamming, $0) }
        register("BlackmanWindow") { try WindowKernel(.blackman, $0) }
        register("DFT", DFTKernel.init)
        register("STFT", STFTKernel.init)
        register("MelWeightMatrix", MelWeightMatrixKernel.init)
    }
}
