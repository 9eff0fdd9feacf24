import Foundation

/// EyeLike: a 2-D tensor of the input's shape with ones on diagonal `k` and zeros elsewhere, of `dtype` (default the
/// input's type): any type but float16 and string.
struct EyeLikeKernel: Kernel {
    let diagonal: Int
    let type: ElementType?

    init(_ node: NodeDefinition) throws {
        try node.expectInputs(1)
        diagonal = try node.attributes.int("k", default: 0)
        if let dtype = try node.attributes.int("dtype") {
            guard let type = ElementType(rawValue: Int32(clamping: dtype)), type != .float16 else {
                throw InferenceError.unsupported(["\(node.label): dtype \(dtype)"])
            }
            self.type = type
        } else {
            type = nil
        }
    }

    func run(_ io: NodeIO) throws {
        let x = try io.requiredInput(0)
        guard x.rank == 2 else { throw InferenceError.invalidInput("EyeLike takes a 2-D input, got \(x.shape)") }
        let y = try io.output(0, type ?? x.elementType, x.shape)
        let (columns, diagonal) = (x.shape[1], diagonal)
        // Element i is at row i / columns, column i % columns (never called when a dimension is 0).
        try GeneratedValue.fill(y) { i in i % columns - i / columns == diagonal ? 1 : 0 }
    }
}

/// Writes small generated numbers (0, 1, a window coefficient) into any numeric or bool tensor.
enum GeneratedValue {
    /// Sets every element i of `y` to `value(i)` converted to its type (one type dispatch for the whole tensor).
    static func fill(_ y: Tensor, _ value: (Int) -> Double) throws {
        func write<T>(_: T.Type, _ convert: (Double) -> T) {
            let out = y.mutableElements(as: T.self)
            for i in out.indices { out[i] = convert(value(i)) }
        }
        // Integers truncate and saturate (NaN, e.g. a one-point symmetric window's 0/0, gives 0).
        func integers<T: FixedWidthInteger>(_: T.Type) { write(T.self) { CastKernel.saturating($0, to: T.self) } }
        switch y.elementType {
        case .float32: write(Float.self) { Float($0) }
        case .float64: write(Double.self) { $0 }
        case .float16: write(Float16.self) { Float16($0) }
        case .bool: write(UInt8.self) { $0 != 0 ? 1 : 0 }
        case .int8: integers(Int8.self)
        case .uint8: integers(UInt8.self)
        case .int16: integers(Int16.self)
        case .uint16: integers(UInt16.self)
        case .int32: integers(Int32.self)
        case .uint32: integers(UInt32.self)
        case .int64: integers(Int64.self)
        case .uint64: integers(UInt64.self)
        case .string: throw InferenceError.invalidInput("a generated number cannot be a string")
        }
    }
}

/// OneHot: for each index, a vector of `depth` along `axis` holding values[1] at the index and values[0] elsewhere
/// (negative indices count from the end; out-of-range ones give an all-off vector). Indices and depth of any numeric
/// type; values of any type.
struct OneHotKernel: Kernel {
    let axis: Int

    init(_ node: NodeDefinition) throws {
        try node.expectInputs(3)
        axis = try node.attributes.int("axis", default: -1)
    }

    func run(_ io: NodeIO) throws {
        let indices = try io.requiredInput(0), depthTensor = try io.requiredInput(1), values = try io.requiredInput(2)
        guard depthTensor.count == 1, values.count == 2 else {
            throw InferenceError.invalidInput("OneHot needs one depth and two values, got \(depthTensor.shape) and \(values.shape)")
        }
        let depth = Int(try Self.numbers(depthTensor)[0])
        guard depth >= 0 else { throw InferenceError.invalidInput("OneHot depth \(depth) is negative") }
        let rank = indices.rank + 1
        let axis = try normalizedAxis(self.axis, rank: rank)
        var shape = indices.shape
        shape.insert(depth, at: axis)
        let y = try io.output(0, values.elementType, shape)
        let size = values.elementType.byteSize
        let (off, on) = (values.storage.pointer, values.storage.pointer + size)
        let out = y.storage.pointer
        let outer = indices.shape[..<axis].reduce(1, *), inner = indices.shape[axis...].reduce(1, *)
        let positions = try Self.numbers(indices)
        for o in 0..<outer {
            for d in 0..<depth {
                for i in 0..<inner {
                    var index = Int(positions[o * inner + i])
                    if index < 0 { index += depth }
                    let target = out + ((o * depth + d) * inner + i) * size
                    target.copyMemory(from: index == d ? on : off, byteCount: size)
                }
            }
        }
    }

    private static func numbers(_ tensor: Tensor) throws -> [Double] {
        switch tensor.elementType {
        case .float32: tensor.elements(as: Float.self).map(Double.init)
        case .float64: Array(tensor.elements(as: Double.self))
        case .int8: tensor.elements(as: Int8.self).map(Double.init)
        case .uint8: tensor.elements(as: UInt8.self).map(Double.init)
        case .int32: tensor.elements(as: Int32.self).map(Double.init)
        case .int64: tensor.elements(as: Int64.self).map(Double.init)
        default: throw InferenceError.invalidInput("OneHot indices and depth must be numbers, got \(tensor.elementType)")
        }
    }
}

/// HannWindow, HammingWindow and BlackmanWindow: `size` coefficients of the window, periodic (`periodic` = 1, the
/// default: N = size) or symmetric (N = size − 1), in `output_datatype` (float32 by default).
struct WindowKernel: Kernel {
    enum Shape: String { case hann = "HannWindow", hamming = "HammingWindow", blackman = "BlackmanWindow" }

    let shape: Shape
    let periodic: Bool
    let type: ElementType

    init(_ shape: Shape, _ node: NodeDefinition) throws {
        try node.expectInputs(1)
        self.shape = shape
        periodic = try node.attributes.int("periodic", default: 1) != 0
        let dtype = try node.attributes.int("output_datatype", default: 1)
        guard let type = ElementType(rawValue: Int32(clamping: dtype)), type != .bool else {
            throw InferenceError.unsupported(["\(node.label): output_datatype \(dtype)"])
        }
        self.type = type
    }

    func run(_ io: NodeIO) throws {
        let sizes = try io.requiredInput(0).integerList("\(shape.rawValue) size")
        guard sizes.count == 1, sizes[0] >= 0 else { throw InferenceError.invalidInput("\(shape.rawValue) size must be one non-negative integer") }
        let size = sizes[0]
        let y = try io.output(0, type, [size])
        // w(i) = a0 − a1·cos(t) + a2·cos(2t), t = 2πi / N.
        let (a0, a1, a2): (Double, Double, Double) = switch shape {
        case .hann: (0.5, 0.5, 0)
        case .hamming: (25.0 / 46.0, 21.0 / 46.0, 0)
        case .blackman: (0.42, 0.5, 0.08)
        }
        let step = 2 * Double.pi / Double(periodic ? size : size - 1)
        func coefficient(_ i: Int) -> Double {
            let t = step * Double(i)
            return a0 - a1 * Foundation.cos(t) + (a2 == 0 ? 0 : a2 * Foundation.cos(2 * t))
        }
        try GeneratedValue.fill(y, coefficient)
    }
}
