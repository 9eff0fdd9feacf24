import Foundation

/// The `post_transform` of ai.onnx.ml classifiers and regressors, computed as onnxruntime does (in float: its
/// PROBIT is the Winitzki approximation of erf⁻¹, not the exact inverse).
enum ScoreTransform: Sendable, Equatable {
    case none, softmax, logistic, softmaxZero, probit

    /// The string form of opsets 1–3 ("NONE", "SOFTMAX", ...); nil for an unknown name.
    init?(name: String) {
        switch name {
        case "NONE": self = .none
        case "SOFTMAX": self = .softmax
        case "LOGISTIC": self = .logistic
        case "SOFTMAX_ZERO": self = .softmaxZero
        case "PROBIT": self = .probit
        default: return nil
        }
    }

    /// The integer form of TreeEnsemble (opset 5): 0 NONE, 1 SOFTMAX, 2 LOGISTIC, 3 SOFTMAX_ZERO, 4 PROBIT.
    init?(code: Int) {
        let all: [ScoreTransform] = [.none, .softmax, .logistic, .softmaxZero, .probit]
        guard all.indices.contains(code) else { return nil }
        self = all[code]
    }

    /// Reads `post_transform` (a string attribute), defaulting to NONE.
    init(_ attributes: NodeAttributes, label: String) throws {
        let name = try attributes.string("post_transform") ?? "NONE"
        guard let transform = ScoreTransform(name: name) else {
            throw InferenceError.unsupported(["\(label) post_transform \(name)"])
        }
        self = transform
    }

    /// Transforms one row of scores in place.
    func apply(_ row: UnsafeMutableBufferPointer<Float>) {
        guard let base = row.baseAddress else { return }
        apply(rows: base, count: 1, columns: row.count)
    }

    /// Transforms `count` rows of `columns` scores each (row-major at `scores`) in place. The exponentials of a
    /// block are taken eight at a time (`FastMath.exp`'s vector form gives its scalar form's bits), which matters
    /// when rows are a few classes wide.
    func apply(rows scores: UnsafeMutablePointer<Float>, count: Int, columns: Int) {
        guard count > 0, columns > 0 else { return }
        let total = count * columns
        switch self {
        case .none: return
        case .logistic:
            Self.forEachBlock(scores, total) { x in
                let v = 1 / (1 + FastMath.exp(-(x.replacing(with: -x, where: x .< 0))))
                return v.replacing(with: 1 - v, where: x .< 0)
            }
        case .probit:
            for i in 0..<total { scores[i] = Self.probit(scores[i]) }
        case .softmax:
            for r in 0..<count {
                let row = scores + r * columns
                var top = row[0]
                for c in 1..<columns { top = Swift.max(top, row[c]) }
                for c in 0..<columns { row[c] -= top }
            }
            Self.forEachBlock(scores, total) { FastMath.exp($0) }
            for r in 0..<count {
                let row = scores + r * columns
                var sum: Float = 0
                for c in 0..<columns { sum += row[c] }
                for c in 0..<columns { row[c] /= sum }
            }
        case .softmaxZero:
            for r in 0..<count { Self.softmaxZero(UnsafeMutableBufferPointer(start: scores + r * columns, count: columns)) }
        }
    }

    /// SOFTMAX_ZERO on one row: exact zeros stay zero (scaled by e^−max, which keeps them tiny rather than
    /// exp(0 − max)); a row of zeros becomes 0.5 everywhere.
    private static func softmaxZero(_ row: UnsafeMutableBufferPointer<Float>) {
        guard let top = row.max() else { return }
        let scale = Foundation.exp(-top)
        var sum: Float = 0
        for i in row.indices {
            let v = row[i]
            row[i] = (v > 1e-7 || v < -1e-7) ? Foundation.exp(v - top) : v * scale
            sum += row[i]
        }
        if sum == 0 {
            for i in row.indices { row[i] = 0.5 }
        } else {
            for i in row.indices { row[i] /= sum }
        }
    }

    /// Replaces every element of `values[0..<count]` by `f` of it, eight at a time (a short tail padded with 0).
    @inline(__always)
    private static func forEachBlock(_ values: UnsafeMutablePointer<Float>, _ count: Int, _ f: (FloatVector) -> FloatVector) {
        var i = 0
        while i < count {
            let lanes = Swift.min(8, count - i)
            f(FloatVector(loading: values + i, upTo: lanes)).store(to: values + i, upTo: lanes)
            i += 8
        }
    }

    /// 1 / (1 + e^−x), computed from |x| so that it neither overflows nor loses the small tail.
    static func logistic(_ x: Float) -> Float {
        let v = 1 / (1 + FastMath.exp(-Swift.abs(x)))
        return x < 0 ? 1 - v : v
    }

    /// √2 · erf⁻¹(2p − 1), with erf⁻¹ approximated as onnxruntime does.
    static func probit(_ p: Float) -> Float {
        Float(2).squareRoot() * inverseErf(2 * p - 1)
    }

    static func inverseErf(_ value: Float) -> Float {
        let sign: Float = value < 0 ? -1 : 1
        let x = (1 - value) * (1 + value)
        let l = Foundation.log(x)
        let v = 2 / (Float.pi * 0.147) + 0.5 * l
        let v2 = 1 / 0.147 * l
        let v3 = -v + (v * v - v2).squareRoot()
        return sign * v3.squareRoot()
    }
}
