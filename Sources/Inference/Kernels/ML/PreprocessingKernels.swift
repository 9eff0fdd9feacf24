import Foundation

/// Scaler (ai.onnx.ml): (x − offset) · scale per column, float32 out; offset and scale hold one value or one per
/// column.
struct ScalerKernel: Kernel {
    let offset: [Float]
    let scale: [Float]
    let label: String

    init(_ node: NodeDefinition) throws {
        try node.expectInputs(1)
        offset = try node.attributes.floats("offset") ?? [0]
        scale = try node.attributes.floats("scale") ?? [1]
        label = node.label
        guard !offset.isEmpty, !scale.isEmpty else { throw InferenceError.invalidModel("\(node.label): empty offset or scale") }
    }

    func run(_ io: NodeIO) throws {
        let x = try io.requiredInput(0)
        let rows = try FeatureRows(x, label: label)
        for list in [offset, scale] where list.count != 1 && list.count != rows.columns {
            throw InferenceError.invalidInput("\(label) has \(list.count) offsets or scales for \(rows.columns) columns")
        }
        let y = try io.output(0, .float32, x.shape).mutableElements(as: Float.self).baseAddress!
        let columns = rows.columns
        rows.withValues { v in
            offset.withUnsafeBufferPointer { offset in
                scale.withUnsafeBufferPointer { scale in
                    // A list of one value applies to every column: step 0 through it.
                    let (offsetStep, scaleStep) = (offset.count == 1 ? 0 : 1, scale.count == 1 ? 0 : 1)
                    for r in 0..<rows.rows {
                        let (row, out) = (v + r * columns, y + r * columns)
                        for c in 0..<columns { out[c] = (row[c] - offset[c * offsetStep]) * scale[c * scaleStep] }
                    }
                }
            }
        }
    }
}

/// Normalizer (ai.onnx.ml): each row divided by its MAX, L1 or L2 norm (a zero norm leaves the row as it is),
/// float32 out.
struct NormalizerKernel: Kernel {
    enum Norm { case max, l1, l2 }
    let norm: Norm
    let label: String

    init(_ node: NodeDefinition) throws {
        try node.expectInputs(1)
        let name = try node.attributes.string("norm") ?? "MAX"
        switch name {
        case "MAX": norm = .max
        case "L1": norm = .l1
        case "L2": norm = .l2
        default: throw InferenceError.unsupported(["\(node.label) norm \(name)"])
        }
        label = node.label
    }

    func run(_ io: NodeIO) throws {
        let x = try io.requiredInput(0)
        let rows = try FeatureRows(x, label: label)
        let y = try io.output(0, .float32, x.shape).mutableElements(as: Float.self)
        rows.withValues { v in
            for r in 0..<rows.rows {
                let row = v + r * rows.columns
                var d: Float = 0
                switch norm {
                case .max:
                    d = -.infinity
                    for c in 0..<rows.columns { d = Swift.max(d, row[c]) }
                case .l1:
                    for c in 0..<rows.columns { d += abs(row[c]) }
                case .l2:
                    for c in 0..<rows.columns { d += row[c] * row[c] }
                    d = d.squareRoot()
                }
                for c in 0..<rows.columns { y[r * rows.columns + c] = d != 0 ? row[c] / d : row[c] }
            }
        }
    }
}

/// Binarizer (ai.onnx.ml): 1 where x > threshold, else 0, in x's type (float32 or float64).
struct BinarizerKernel: Kernel {
    let threshold: Float

    init(_ node: NodeDefinition) throws {
        try node.expectInputs(1)
        threshold = try node.attributes.float("threshold", default: 0)
    }

    func run(_ io: NodeIO) throws {
        let x = try io.requiredInput(0)
        switch x.elementType {
        case .float32:
            let (v, y) = (x.elements(as: Float.self), try io.output(0, .float32, x.shape).mutableElements(as: Float.self))
            for i in v.indices { y[i] = v[i] > threshold ? 1 : 0 }
        case .float64:
            let (v, y) = (x.elements(as: Double.self), try io.output(0, .float64, x.shape).mutableElements(as: Double.self))
            let t = Double(threshold)
            for i in v.indices { y[i] = v[i] > t ? 1 : 0 }
        default:
            throw InferenceError.invalidInput("Binarizer takes float32 or float64, got \(x.elementType)")
        }
    }
}

/// Imputer (ai.onnx.ml): replaces `replaced_value_float` (NaN by default: missing values) with the column's
/// imputed value, float32 in and out; or `replaced_value_int64` with int64 imputed values for int64 input.
struct ImputerKernel: Kernel {
    let floats: [Float]
    let ints: [Int64]
    let replacedFloat: Float
    let replacedInt: Int64
    let label: String

    init(_ node: NodeDefinition) throws {
        try node.expectInputs(1)
        let a = node.attributes
        floats = try a.floats("imputed_value_floats") ?? []
        ints = (try a.ints("imputed_value_int64s") ?? []).map(Int64.init)
        replacedFloat = try a.float("replaced_value_float", default: .nan)
        replacedInt = Int64(try a.int("replaced_value_int64", default: 0))
        label = node.label
        guard floats.isEmpty != ints.isEmpty else {
            throw InferenceError.invalidModel("\(node.label) needs exactly one of imputed_value_floats, imputed_value_int64s")
        }
    }

    func run(_ io: NodeIO) throws {
        let x = try io.requiredInput(0)
        let columns = x.rank == 0 ? 1 : x.shape[x.rank - 1]
        let width = floats.isEmpty ? ints.count : floats.count
        guard width == 1 || width == columns else {
            throw InferenceError.invalidInput("\(label) has \(width) imputed values for \(columns) columns")
        }
        switch x.elementType {
        case .float32 where !floats.isEmpty:
            let (v, y) = (x.elements(as: Float.self), try io.output(0, .float32, x.shape).mutableElements(as: Float.self))
            for i in v.indices {
                let replace = replacedFloat.isNaN ? v[i].isNaN : v[i] == replacedFloat
                y[i] = replace ? floats[width == 1 ? 0 : i % columns] : v[i]
            }
        case .int64 where !ints.isEmpty:
            let (v, y) = (x.elements(as: Int64.self), try io.output(0, .int64, x.shape).mutableElements(as: Int64.self))
            for i in v.indices { y[i] = v[i] == replacedInt ? ints[width == 1 ? 0 : i % columns] : v[i] }
        default:
            throw InferenceError.invalidInput("\(label) with \(floats.isEmpty ? "int64" : "float") values does not take \(x.elementType)")
        }
    }
}
