/// Turns one row of summed class weights into a label and class scores, following onnxruntime's
/// TreeEnsembleClassifier.
///
/// More than two classes: base values added, the label is the first highest class that some leaf (or base value)
/// wrote, the transform applies to the row. Two classes: when only one class id carries weights the model scores the
/// positive class alone, and the second column is made as 1 − p (positive weights) or −s / logistic(±s) (mixed);
/// base values and labels follow onnxruntime's case analysis, including its quirks (see the comments).
struct ClassifierFinish: Sendable {
    let labels: [Int64]
    let baseValues: [Double]
    let transform: ScoreTransform
    /// Only one class id carries weights (a binary model scoring the positive class alone).
    let singleClassWeights: Bool
    let weightsArePositive: Bool

    func finish(_ values: UnsafeMutablePointer<Double>, _ written: UnsafeMutablePointer<UInt8>, into out: UnsafeMutableBufferPointer<Float>) -> Int64 {
        let classes = labels.count
        if classes > 2 {
            var best = -1
            var bestScore = 0.0
            for k in 0..<classes {
                var has = written[k] != 0
                if k < baseValues.count {
                    values[k] += baseValues[k]
                    has = true
                }
                if has && (best < 0 || values[k] > bestScore) {
                    best = k
                    bestScore = values[k]
                }
                out[k] = Float(values[k])
            }
            transform.apply(out)
            return labels[Swift.max(best, 0)]
        }
        var p0 = values[0], p1 = values[1]
        let has0 = written[0] != 0
        var has1 = written[1] != 0
        var both = true
        var secondClass = -1
        switch baseValues.count {
        case 2:
            if has1 {
                // onnxruntime: base_values[0] is not used; the positive score is base_values[1] + the first sum.
                p1 = baseValues[1] + p0
                p0 = -p1
                has1 = true
            } else {
                p1 += baseValues[1]
                p0 += baseValues[0]
            }
        case 1:
            p0 += baseValues[0]
            if !has1 { both = false }
        case 0:
            secondClass = 3
            if !has1 { both = false }
        default:
            break
        }
        let positive = both && has1 ? p1 : (has0 ? p0 : 0)
        let label: Int64
        if singleClassWeights {
            if weightsArePositive {
                secondClass = positive > 0.5 ? 0 : 1
            } else {
                secondClass = positive > 0 ? 2 : 3
            }
            label = positive > (weightsArePositive ? 0.5 : 0) ? labels[1] : labels[0]
        } else {
            label = positive > 0 ? 1 : 0
        }
        if both {
            out[0] = Float(p0)
            out[1] = Float(p1)
            transform.apply(out)
            return label
        }
        let s = Float(p0)
        if transform == .probit {
            out[0] = ScoreTransform.probit(s)
            out[1] = 0
            return label
        }
        switch secondClass {
        case 0, 1:
            out[0] = 1 - s
            out[1] = s
        case 2, 3:
            if transform == .logistic {
                out[0] = ScoreTransform.logistic(-s)
                out[1] = ScoreTransform.logistic(s)
            } else {
                out[0] = -s
                out[1] = s
            }
        default:
            out[0] = s
            out[1] = 0
        }
        return label
    }
}
