extension OperatorRegistry {
    /// The int8/uint8 quantization operators (models quantized by `onnxruntime.quantization` and exporters).
    mutating func registerQuantizationOperators() {
        register("QuantizeLinear") { try LinearQuantizationKernel(quantize: true, $0) }
        register("DequantizeLinear") { try LinearQuantizationKernel(quantize: false, $0) }
        register("DynamicQuantizeLinear", DynamicQuantizeLinearKernel.init)
        register("MatMulInteger") { try IntegerMatMulKernel(requantizes: false, $0) }
        register("QLinearMatMul") { try IntegerMatMulKernel(requantizes: true, $0) }
        register("ConvInteger") { try IntegerConvKernel(requantizes: false, $0) }
        register("QLinearConv") { try IntegerConvKernel(requantizes: true, $0) }
    }
}
