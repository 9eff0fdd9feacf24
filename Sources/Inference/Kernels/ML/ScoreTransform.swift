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
        switch self {
        case .none: return
        case .logistic:
            for i in row.indices { row[i] = Self.logistic(row[i]) }
        case .probit:
            for i in row.indices { row[i] = Self.probit(row[i]) }
        case .softmax:
            guard let top = row.max() else { return }
            var sum: Float = 0
            for i in row.indices {
                row[i] = Foundation.exp(row[i] - top)
                sum += row[i]
            }
            for i in row.indices { row[i] /= sum }
        case .softmaxZero:
            // Exact zeros stay zero (scaled by e^−max, which keeps them tiny rather than exp(0 − max)).
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
    }

    /// 1 / (1 + e^−x), computed from |x| so that it neither overflows nor loses the small tail.
    static func logistic(_ x: Float) -> Float {
        let v = 1 / (1 + Foundation.exp(-Swift.abs(x)))
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
