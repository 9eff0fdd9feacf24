/// RotaryEmbedding (opset 23) on float32: the first `rotary_embedding_dim` (default: all) features of each head
/// rotated pairwise by the cos/sin cache row of its position — pairs (i, i + d/2), or (2i, 2i + 1) when `interleaved`.
/// Input [B, heads, seq, head size] or [B, seq, heads · head size] (`num_heads` given); caches [max position, d/2]
/// indexed by `position_ids` [B, seq], or [B, seq, d/2] without them.
struct RotaryEmbeddingKernel: Kernel {
    let interleaved: Bool
    let rotaryDimension: Int
    let heads: Int

    init(_ node: NodeDefinition) throws {
        try node.expectInputs(3, 4)
        interleaved = try node.attributes.int("interleaved", default: 0) != 0
        rotaryDimension = try node.attributes.int("rotary_embedding_dim", default: 0)
        heads = try node.attributes.int("num_heads", default: 0)
    }

    func run(_ io: NodeIO) throws {
        let x = try io.requiredInput(0), cosCache = try io.requiredInput(1), sinCache = try io.requiredInput(2)
        let positions = try io.input(3).map { tensor -> [Int] in
            guard let values = tensor.integers() else {
                throw InferenceError.invalidInput("RotaryEmbedding position_ids must be int64, got \(tensor.elementType)")
            }
            return values
        }
        guard x.elementType == .float32, cosCache.elementType == .float32, sinCache.elementType == .float32 else {
            throw InferenceError.invalidInput("RotaryEmbedding takes float32")
        }
        let (batch, heads, sequence, width): (Int, Int, Int, Int)
        if x.rank == 4 {
            (batch, heads, sequence, width) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        } else if x.rank == 3, self.heads > 0, x.shape[2] % self.heads == 0 {
            (batch, heads, sequence, width) = (x.shape[0], self.heads, x.shape[1], x.shape[2] / self.heads)
        } else {
            throw InferenceError.invalidInput("RotaryEmbedding input must be 4-D, or 3-D with num_heads dividing it; got \(x.shape)")
        }
        let rotated = rotaryDimension == 0 ? width : rotaryDimension
        let half = rotated / 2
        guard rotated <= width, rotated % 2 == 0, cosCache.shape == sinCache.shape, cosCache.shape.last == half else {
            throw InferenceError.invalidInput("RotaryEmbedding caches \(cosCache.shape) do not fit rotary dimension \(rotated)")
        }
        if let positions {
            guard positions.count == batch * sequence, cosCache.rank == 2,
                  positions.allSatisfy({ $0 >= 0 && $0 < cosCache.shape[0] })
            else {
                throw InferenceError.invalidInput("RotaryEmbedding position_ids must be [\(batch), \(sequence)] rows of the \(cosCache.shape) cache")
            }
        } else if cosCache.shape != [batch, sequence, half] {
            throw InferenceError.invalidInput("RotaryEmbedding caches must be [\(batch), \(sequence), \(half)] without position_ids")
        }
        let y = try io.output(0, .float32, x.shape)
        let (src, dst) = (x.elements(as: Float.self), y.mutableElements(as: Float.self))
        let (cosines, sines) = (cosCache.elements(as: Float.self), sinCache.elements(as: Float.self))
        for b in 0..<batch {
            for s in 0..<sequence {
                let row = (positions?[b * sequence + s] ?? (b * sequence + s)) * half
                for h in 0..<heads {
                    let base = x.rank == 4 ? ((b * heads + h) * sequence + s) * width : ((b * sequence + s) * heads + h) * width
                    for i in 0..<half {
                        let (first, second) = interleaved ? (base + 2 * i, base + 2 * i + 1) : (base + i, base + i + half)
                        let (c, sn) = (cosines[row + i], sines[row + i])
                        let (a, bValue) = (src[first], src[second])
                        dst[first] = c * a - sn * bValue
                        dst[second] = sn * a + c * bValue
                    }
                    for i in rotated..<width { dst[base + i] = src[base + i] }
                }
            }
        }
    }
}
