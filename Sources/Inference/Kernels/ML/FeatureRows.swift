/// The rows of an ai.onnx.ml operator's feature input as float32: [N, C] or one row [C]; float64, int64 and int32
/// are converted (as onnxruntime does for these operators, whose outputs are float32).
///
/// Holds either a view of the tensor (float32, no copy) or a converted copy; valid while the tensor is.
struct FeatureRows {
    let rows: Int
    let columns: Int
    private let tensor: Tensor
    private let converted: [Float]?

    init(_ x: Tensor, label: String) throws {
        switch x.rank {
        case 1: (rows, columns) = (1, x.shape[0])
        case 2: (rows, columns) = (x.shape[0], x.shape[1])
        default: throw InferenceError.invalidInput("\(label) takes [N, C] or [C], got \(x.shape)")
        }
        tensor = x
        switch x.elementType {
        case .float32: converted = nil
        case .float64: converted = x.elements(as: Double.self).map { Float($0) }
        case .int64: converted = x.elements(as: Int64.self).map { Float($0) }
        case .int32: converted = x.elements(as: Int32.self).map { Float($0) }
        default: throw InferenceError.invalidInput("\(label) takes float32, float64, int64 or int32, got \(x.elementType)")
        }
    }

    /// Calls `body` with the row-major values.
    func withValues<R>(_ body: (UnsafePointer<Float>) throws -> R) rethrows -> R {
        if let converted {
            return try converted.withUnsafeBufferPointer { try body($0.baseAddress!) }
        }
        return try body(tensor.elements(as: Float.self).baseAddress!)
    }
}
