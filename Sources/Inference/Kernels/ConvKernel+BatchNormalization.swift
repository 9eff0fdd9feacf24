/// Folding an inference BatchNormalization into the convolution before it, as exporters' graphs leave it:
/// y = (conv(x, W) + B − mean) · a + offset with a = scale / √(var + ε) per output map is conv(x, W · a) + (B − mean) · a
/// + offset, so the normalization costs nothing at run time.
extension ConvKernel: HoldsWeights {
    var heldWeightBytes: Int { (heldWeights?.w.byteCount ?? 0) + (heldWeights?.bias?.byteCount ?? 0) }

    /// This convolution with `norm` folded into its constant weights `w` and bias (nil: none), given the
    /// normalization's constant [scale, offset, mean, variance]; nil when they do not fold (an activation or pool
    /// already fused, weights already held, types other than float32, shapes that do not match the output maps).
    func folding(_ norm: BatchNormalizationKernel, weights w: Tensor, bias: Tensor?, _ statistics: [Tensor]) -> ConvKernel? {
        guard activation == nil, pool == nil, heldWeights == nil, norm.activation == nil, statistics.count == 4,
              w.elementType == .float32, w.rank >= 3, bias.map({ $0.elementType == .float32 }) ?? true
        else { return nil }
        let maps = w.shape[0]
        guard statistics.allSatisfy({ $0.elementType == .float32 && $0.shape == [maps] }),
              bias.map({ $0.shape == [maps] }) ?? true, maps > 0
        else { return nil }
        let (scale, offset, mean, variance) = (
            statistics[0].elements(as: Float.self), statistics[1].elements(as: Float.self),
            statistics[2].elements(as: Float.self), statistics[3].elements(as: Float.self))
        let perMap = w.count / maps
        let source = w.elements(as: Float.self)
        var weights = [Float](repeating: 0, count: w.count)
        var shifts = [Float](repeating: 0, count: maps)
        for m in 0..<maps {
            let factor = scale[m] / (variance[m] + norm.epsilon).squareRoot()
            for i in (m * perMap)..<((m + 1) * perMap) { weights[i] = source[i] * factor }
            shifts[m] = ((bias?.elements(as: Float.self)[m] ?? 0) - mean[m]) * factor + offset[m]
        }
        var folded = self
        folded.heldWeights = (Tensor(float32: weights, shape: w.shape), Tensor(float32: shifts, shape: [maps]))
        return folded
    }
}
