import Foundation

/// Attention (opset 23/24) on float32: softmax(scale · Q·Kᵀ (softcapped) + bias) · V per head, with grouped-query
/// heads (each KV head serving q_num_heads / kv_num_heads query heads), a KV cache (`past_key`/`past_value` concatenated
/// before K/V, returned as `present_key`/`present_value`), `is_causal` (upper-left aligned after the past), an
/// additive float or boolean `attn_mask` broadcast to [B, q_heads, q_seq, total] (a shorter last axis counts as
/// masked beyond its end), `nonpad_kv_seqlen`, and the optional `qk_matmul_output` (mode 0/1: the scaled, softcapped
/// product; 2: plus bias; 3: after softmax). Q, K, V are 4-D [B, heads, seq, head size] or 3-D [B, seq, heads · head
/// size] (`q_num_heads`/`kv_num_heads` given). Products run on BLAS, one query head at a time.
struct AttentionKernel: Kernel {
    let isCausal: Bool
    let qHeadsAttribute: Int?
    let kvHeadsAttribute: Int?
    let outputMode: Int
    let scale: Float?
    let softcap: Float

    init(_ node: NodeDefinition) throws {
        try node.expectInputs(3, node.opsetVersion >= 24 ? 7 : 6)
        let attributes = node.attributes
        isCausal = try attributes.int("is_causal", default: 0) != 0
        qHeadsAttribute = try attributes.int("q_num_heads")
        kvHeadsAttribute = try attributes.int("kv_num_heads")
        outputMode = try attributes.int("qk_matmul_output_mode", default: 0)
        guard (0...3).contains(outputMode) else {
            throw InferenceError.invalidModel("\(node.label): qk_matmul_output_mode \(outputMode)")
        }
        scale = attributes.has("scale") ? try attributes.float("scale", default: 1) : nil
        softcap = try attributes.float("softcap", default: 0)
        // The softmax here runs in float32 or wider whatever this asks, which meets every precision it may name.
        if let precision = try attributes.int("softmax_precision"), ![1, 10, 11, 16].contains(precision) {
            throw InferenceError.unsupported(["\(node.label): softmax_precision \(precision)"])
        }
    }

    /// A Q, K or V input seen per (batch, head): rows of `width` floats `rowStride` apart.
    private struct Heads {
        let tensor: Tensor
        let batch: Int, heads: Int, sequence: Int, width: Int
        let threeD: Bool
        var rowStride: Int { threeD ? heads * width : width }

        init(_ tensor: Tensor, heads given: Int?, name: String) throws {
            self.tensor = tensor
            threeD = tensor.rank == 3
            if tensor.rank == 4 {
                (batch, heads, sequence, width) = (tensor.shape[0], tensor.shape[1], tensor.shape[2], tensor.shape[3])
            } else if tensor.rank == 3, let given, given > 0, tensor.shape[2] % given == 0 {
                (batch, heads, sequence, width) = (tensor.shape[0], given, tensor.shape[1], tensor.shape[2] / given)
            } else {
                throw InferenceError.invalidInput("Attention \(name) must be 4-D, or 3-D with its head count dividing the last axis; got \(tensor.shape)")
            }
        }

        func pointer(_ b: Int, _ h: Int) -> UnsafePointer<Float> {
            let base = tensor.elements(as: Float.self).baseAddress!
            return threeD ? base + b * sequence * heads * width + h * width : base + (b * heads + h) * sequence * width
        }
    }

    func run(_ io: NodeIO) throws {
        let inputs = (0..<7).map { io.input($0) }
        for case let tensor? in inputs.prefix(6) where tensor.elementType != .float32 && tensor.elementType != .bool {
            throw InferenceError.invalidInput("Attention takes float32, got \(tensor.elementType)")
        }
        let q = try Heads(io.requiredInput(0), heads: qHeadsAttribute, name: "Q")
        var k = try Heads(io.requiredInput(1), heads: kvHeadsAttribute, name: "K")
        var v = try Heads(io.requiredInput(2), heads: kvHeadsAttribute, name: "V")
        guard q.tensor.rank == k.tensor.rank, k.tensor.rank == v.tensor.rank, q.batch == k.batch, k.batch == v.batch,
              k.heads == v.heads, k.sequence == v.sequence, q.width == k.width, k.heads > 0, q.heads % k.heads == 0
        else {
            throw InferenceError.invalidInput("Attention Q \(q.tensor.shape), K \(k.tensor.shape), V \(v.tensor.shape) do not fit")
        }
        let (batch, heads, kvHeads, qLength) = (q.batch, q.heads, k.heads, q.sequence)
        // The KV cache: past rows then the new ones, as the present outputs (or scratch when they are not wanted).
        let past = (inputs[4], inputs[5])
        var pastLength = 0
        if past.0 != nil || past.1 != nil || io.outputIndexes.count > 1 {
            if let pk = past.0, pk.rank != 4 || pk.shape[0] != batch || pk.shape[1] != kvHeads || pk.shape[3] != k.width {
                throw InferenceError.invalidInput("Attention past_key \(pk.shape) does not fit K")
            }
            pastLength = past.0?.shape[2] ?? 0
            if let pv = past.1, pv.shape != [batch, kvHeads, pastLength, v.width] {
                throw InferenceError.invalidInput("Attention past_value \(pv.shape) does not fit V and past_key")
            }
            k = try Heads(concatenate(past.0, k, output: 1, io), heads: nil, name: "present_key")
            v = try Heads(concatenate(past.1, v, output: 2, io), heads: nil, name: "present_value")
        }
        let total = k.sequence
        let outShape = q.threeD ? [batch, qLength, heads * v.width] : [batch, heads, qLength, v.width]
        let y = try io.output(0, .float32, outShape)
        let qkOutput = io.outputIndexes.count > 3 ? try io.output(3, .float32, [batch, heads, qLength, total]) : nil
        let bias = try Bias(mask: inputs[3], nonpad: inputs[6], batch: batch, heads: heads, qLength: qLength,
                            total: total, causalPast: isCausal ? pastLength : nil)
        guard y.count > 0 else { return }
        let scores = try io.scratch(floats: qLength * total)
        let scale = self.scale ?? 1 / Float(q.width).squareRoot()
        let out = y.mutableElements(as: Float.self).baseAddress!
        for b in 0..<batch {
            for h in 0..<heads {
                let kvh = h / (heads / kvHeads)
                if total > 0 && qLength > 0 {
                    BLAS.sgemm(transposeA: false, transposeB: true, m: qLength, n: total, k: q.width, alpha: scale,
                               a: q.pointer(b, h), lda: q.rowStride, b: k.pointer(b, kvh), ldb: k.rowStride,
                               beta: 0, c: scores, ldc: total)
                }
                let count = qLength * total
                if softcap > 0 { for i in 0..<count { scores[i] = softcap * Foundation.tanh(scores[i] / softcap) } }
                let qk = qkOutput.map { $0.mutableElements(as: Float.self).baseAddress! + (b * heads + h) * count }
                if outputMode <= 1, let qk { qk.update(from: scores, count: count) }
                bias.add(to: scores, b, h)
                if outputMode == 2, let qk { qk.update(from: scores, count: count) }
                for i in 0..<qLength {
                    let row = scores + i * total
                    var maximum = -Float.infinity
                    for j in 0..<total { maximum = Swift.max(maximum, row[j]) }
                    var sum: Float = 0
                    for j in 0..<total { row[j] = Foundation.exp(row[j] - maximum); sum += row[j] }
                    for j in 0..<total { row[j] /= sum }
                }
                if outputMode == 3, let qk { qk.update(from: scores, count: count) }
                let target = q.threeD ? out + b * qLength * heads * v.width + h * v.width : out + (b * heads + h) * qLength * v.width
                if v.width > 0 && qLength > 0 {
                    if total > 0 {
                        BLAS.sgemm(transposeA: false, transposeB: false, m: qLength, n: v.width, k: total, alpha: 1,
                                   a: scores, lda: total, b: v.pointer(b, kvh), ldb: v.rowStride, beta: 0,
                                   c: target, ldc: q.threeD ? heads * v.width : v.width)
                    } else {
                        for i in 0..<qLength { (target + i * (q.threeD ? heads * v.width : v.width)).update(repeating: .nan, count: v.width) }
                    }
                }
            }
        }
    }

    /// `past` (may be absent) followed by `new`'s rows per head, as output `output` [B, heads, total, width] when the
    /// node has it, else in a per-run buffer.
    private func concatenate(_ past: Tensor?, _ new: Heads, output: Int, _ io: NodeIO) throws -> Tensor {
        let pastLength = past?.shape[2] ?? 0
        let shape = [new.batch, new.heads, pastLength + new.sequence, new.width]
        let result = io.outputIndexes.count > output
            ? try io.output(output, .float32, shape)
            : Tensor(elementType: .float32, shape: shape, storage: TensorStorage(byteCapacity: shape.elementCount * 4))
        let dst = result.mutableElements(as: Float.self).baseAddress!
        for b in 0..<new.batch {
            for h in 0..<new.heads {
                let head = dst + (b * new.heads + h) * shape[2] * new.width
                if let past { head.update(from: past.elements(as: Float.self).baseAddress! + (b * new.heads + h) * pastLength * new.width, count: pastLength * new.width) }
                let source = new.pointer(b, h)
                for t in 0..<new.sequence {
                    (head + (pastLength + t) * new.width).update(from: source + t * new.rowStride, count: new.width)
                }
            }
        }
        return result
    }

    /// The additive bias on the scores: the mask (bool: −∞ where false), causal −∞ above the shifted diagonal, and
    /// −∞ past each batch row's `nonpad_kv_seqlen`.
    private struct Bias {
        let mask: Tensor?
        let maskStrides: [Int]
        let maskLength: Int
        let nonpad: [Int]?
        let causalPast: Int?
        let total: Int, qLength: Int

        init(mask: Tensor?, nonpad: Tensor?, batch: Int, heads: Int, qLength: Int, total: Int, causalPast: Int?) throws {
            self.mask = mask
            self.causalPast = causalPast
            self.total = total
            self.qLength = qLength
            if let mask {
                let padded = [Int](repeating: 1, count: Swift.max(0, 4 - mask.rank)) + mask.shape
                let wanted = [batch, heads, qLength]
                guard mask.rank <= 4, mask.rank >= 1, padded[3] <= total,
                      (0..<3).allSatisfy({ padded[$0] == 1 || padded[$0] == wanted[$0] })
                else {
                    throw InferenceError.invalidInput("Attention attn_mask \(mask.shape) does not broadcast to \(wanted + [total])")
                }
                let strides = padded.strides
                maskStrides = (0..<4).map { padded[$0] == 1 ? 0 : strides[$0] }
                maskLength = padded[3]
            } else {
                (maskStrides, maskLength) = ([], 0)
            }
            if let nonpad {
                guard let values = nonpad.integers(), values.count == batch else {
                    throw InferenceError.invalidInput("Attention nonpad_kv_seqlen must be \(batch) integers")
                }
                self.nonpad = values
            } else {
                self.nonpad = nil
            }
        }

        func add(to scores: UnsafeMutablePointer<Float>, _ b: Int, _ h: Int) {
            for i in 0..<qLength {
                let row = scores + i * total
                if let mask {
                    let base = b * maskStrides[0] + h * maskStrides[1] + i * maskStrides[2]
                    if mask.elementType == .bool {
                        let m = mask.elements(as: UInt8.self)
                        for j in 0..<total where j >= maskLength || m[base + j * maskStrides[3]] == 0 { row[j] = -.infinity }
                    } else {
                        let m = mask.elements(as: Float.self)
                        for j in 0..<total { row[j] += j < maskLength ? m[base + j * maskStrides[3]] : -.infinity }
                    }
                }
                if let causalPast {
                    for j in 0..<total where j > causalPast + i { row[j] = -.infinity }
                }
                if let nonpad {
                    for j in 0..<total where j >= nonpad[b] { row[j] = -.infinity }
                }
            }
        }
    }
}
