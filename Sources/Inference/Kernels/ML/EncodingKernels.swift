/// OneHotEncoder (ai.onnx.ml) over integer categories (`cats_int64s`): x of shape S → float32 of shape S + [n],
/// 1 at the category's position. Float inputs are cast to int64 first, as onnxruntime does. A value that is no
/// category gives a zero row, or an invalid input when `zeros` is 0.
struct OneHotEncoderKernel: Kernel {
    let position: [Int64: Int]
    let count: Int
    let zerosAllowed: Bool
    let label: String

    init(_ node: NodeDefinition) throws {
        try node.expectInputs(1)
        let a = node.attributes
        if let strings = try a.strings("cats_strings"), !strings.isEmpty {
            throw InferenceError.unsupported([
                "\(node.label) over string categories (cats_strings): ZServe inputs are numeric tensors; encode the "
                    + "categories as integers before export (e.g. OrdinalEncoder in the pipeline)",
            ])
        }
        let categories = try a.ints("cats_int64s") ?? []
        guard !categories.isEmpty else { throw InferenceError.invalidModel("\(node.label) has no categories") }
        var position: [Int64: Int] = [:]
        for (i, c) in categories.enumerated() where position[Int64(c)] == nil { position[Int64(c)] = i }
        self.position = position
        count = categories.count
        zerosAllowed = try a.int("zeros", default: 1) != 0
        label = node.label
    }

    func run(_ io: NodeIO) throws {
        let x = try io.requiredInput(0)
        let values: [Int64]
        switch x.elementType {
        case .int64: values = Array(x.elements(as: Int64.self))
        case .int32: values = x.elements(as: Int32.self).map(Int64.init)
        case .float32: values = try x.elements(as: Float.self).map { try Self.integer(Double($0), label) }
        case .float64: values = try x.elements(as: Double.self).map { try Self.integer($0, label) }
        default: throw InferenceError.invalidInput("\(label) takes integer or float categories, got \(x.elementType)")
        }
        let y = try io.output(0, .float32, x.shape + [count]).mutableElements(as: Float.self)
        y.update(repeating: 0)
        for (i, value) in values.enumerated() {
            if let column = position[value] {
                y[i * count + column] = 1
            } else if !zerosAllowed {
                throw InferenceError.invalidInput("\(label): \(value) is not one of the categories (zeros = 0)")
            }
        }
    }

    private static func integer(_ value: Double, _ label: String) throws -> Int64 {
        guard value.isFinite, abs(value) < 9.2e18 else {
            throw InferenceError.invalidInput("\(label): \(value) is not a category")
        }
        return Int64(value)
    }
}

/// LabelEncoder (ai.onnx.ml) between numbers: int64 → int64 / float32 and float32 → int64 / float32 (keys and values
/// as `keys_int64s` / `keys_floats` / `values_*` or, from opset 4, `keys_tensor` / `values_tensor`); keys not in the
/// map take the default. String keys or values are refused at load (ZServe tensors are numeric).
struct LabelEncoderKernel: Kernel {
    enum Keys { case ints([Int64: Int]), floats([Float], [Int]) }
    let keys: Keys
    let intValues: [Int64]?
    let floatValues: [Float]?
    let defaultInt: Int64
    let defaultFloat: Float
    let label: String

    init(_ node: NodeDefinition) throws {
        try node.expectInputs(1)
        let a = node.attributes
        for name in ["keys_strings", "values_strings", "default_string"] where a.has(name) {
            throw InferenceError.unsupported([
                "\(node.label) with strings (\(name)): ZServe tensors are numeric; map the labels to integers before export",
            ])
        }
        var keyInts = try a.ints("keys_int64s").map { $0.map(Int64.init) }
        var keyFloats = try a.floats("keys_floats")
        var valueInts = try a.ints("values_int64s").map { $0.map(Int64.init) }
        var valueFloats = try a.floats("values_floats")
        var defaultInt = Int64(try a.int("default_int64", default: -1))
        var defaultFloat = try a.float("default_float", default: -0.0)
        if let keyTensor = try a.tensor("keys_tensor") {
            switch keyTensor.elementType {
            case .int64: keyInts = keyTensor.array(of: Int64.self)
            case .float32: keyFloats = keyTensor.array(of: Float.self)
            default: throw InferenceError.unsupported(["\(node.label) keys_tensor of \(keyTensor.elementType)"])
            }
        }
        if let valueTensor = try a.tensor("values_tensor") {
            switch valueTensor.elementType {
            case .int64: valueInts = valueTensor.array(of: Int64.self)
            case .float32: valueFloats = valueTensor.array(of: Float.self)
            default: throw InferenceError.unsupported(["\(node.label) values_tensor of \(valueTensor.elementType)"])
            }
        }
        if let defaultTensor = try a.tensor("default_tensor") {
            switch defaultTensor.elementType {
            case .int64 where defaultTensor.count == 1: defaultInt = defaultTensor.array(of: Int64.self)[0]
            case .float32 where defaultTensor.count == 1: defaultFloat = defaultTensor.array(of: Float.self)[0]
            default: throw InferenceError.unsupported(["\(node.label) default_tensor of \(defaultTensor.elementType)"])
            }
        }
        guard (keyInts == nil) != (keyFloats == nil), (valueInts == nil) != (valueFloats == nil) else {
            throw InferenceError.invalidModel("\(node.label) needs one kind of keys and one kind of values")
        }
        let count = keyInts?.count ?? keyFloats!.count
        guard count == valueInts?.count ?? valueFloats!.count else {
            throw InferenceError.invalidModel("\(node.label): keys and values differ in length")
        }
        if let keyInts {
            var map: [Int64: Int] = [:]
            for (i, k) in keyInts.enumerated() where map[k] == nil { map[k] = i }
            keys = .ints(map)
        } else {
            // Sorted keys with their value positions, looked up by binary search (NaN keys match NaN).
            let order = keyFloats!.indices.sorted { Self.before(keyFloats![$0], keyFloats![$1]) }
            keys = .floats(order.map { keyFloats![$0] }, order)
        }
        intValues = valueInts
        floatValues = valueFloats
        self.defaultInt = defaultInt
        self.defaultFloat = defaultFloat
        label = node.label
    }

    /// Total order with NaN last.
    private static func before(_ a: Float, _ b: Float) -> Bool {
        if a.isNaN { return false }
        if b.isNaN { return true }
        return a < b
    }

    private func lookup(_ key: Float, _ sorted: [Float], _ positions: [Int]) -> Int? {
        var (low, high) = (0, sorted.count)
        while low < high {
            let mid = (low + high) / 2
            if Self.before(sorted[mid], key) { low = mid + 1 } else { high = mid }
        }
        guard low < sorted.count, sorted[low] == key || (sorted[low].isNaN && key.isNaN) else { return nil }
        return positions[low]
    }

    func run(_ io: NodeIO) throws {
        let x = try io.requiredInput(0)
        var positions: [Int?]
        switch (keys, x.elementType) {
        case (.ints(let map), .int64): positions = x.elements(as: Int64.self).map { map[$0] }
        case (.floats(let sorted, let order), .float32): positions = x.elements(as: Float.self).map { lookup($0, sorted, order) }
        default: throw InferenceError.invalidInput("\(label) does not take \(x.elementType) keys")
        }
        if let intValues {
            let y = try io.output(0, .int64, x.shape).mutableElements(as: Int64.self)
            for i in positions.indices { y[i] = positions[i].map { intValues[$0] } ?? defaultInt }
        } else if let floatValues {
            let y = try io.output(0, .float32, x.shape).mutableElements(as: Float.self)
            for i in positions.indices { y[i] = positions[i].map { floatValues[$0] } ?? defaultFloat }
        }
        positions.removeAll()
    }
}

/// ArrayFeatureExtractor (ai.onnx.ml): the elements of X's last axis at the int64 indices Y; [..., C] → [..., len(Y)]
/// (a 1-D X gives [1, len(Y)]). Any element type.
struct ArrayFeatureExtractorKernel: Kernel {
    init(_ node: NodeDefinition) throws {
        try node.expectInputs(2)
    }

    func run(_ io: NodeIO) throws {
        let x = try io.requiredInput(0)
        let indexTensor = try io.requiredInput(1)
        guard let indices = indexTensor.integers() else {
            throw InferenceError.invalidInput("ArrayFeatureExtractor indices must be int64, got \(indexTensor.elementType)")
        }
        guard x.rank >= 1 else { throw InferenceError.invalidInput("ArrayFeatureExtractor needs X of rank ≥ 1") }
        let columns = x.shape[x.rank - 1]
        for index in indices where !(0..<columns).contains(index) {
            throw InferenceError.invalidInput("ArrayFeatureExtractor index \(index) is outside 0..<\(columns)")
        }
        let outer = x.rank == 1 ? 1 : x.shape.dropLast().reduce(1, *)
        let shape = x.rank == 1 ? [1, indices.count] : Array(x.shape.dropLast()) + [indices.count]
        let y = try io.output(0, x.elementType, shape)
        let size = x.elementType.byteSize
        let source = x.bytes.baseAddress!
        let destination = UnsafeMutableRawPointer(mutating: y.bytes.baseAddress!)
        for row in 0..<outer {
            for (j, index) in indices.enumerated() {
                (destination + (row * indices.count + j) * size)
                    .copyMemory(from: source + (row * columns + index) * size, byteCount: size)
            }
        }
    }
}

/// FeatureVectorizer (ai.onnx.ml): concatenates its inputs' columns into [N, Σ inputdimensions] float32, each input
/// padded with zeros or cut to its declared width.
struct FeatureVectorizerKernel: Kernel {
    let widths: [Int]
    let label: String

    init(_ node: NodeDefinition) throws {
        widths = try node.attributes.ints("inputdimensions") ?? []
        label = node.label
        guard widths.count == node.inputCount, widths.allSatisfy({ $0 >= 0 }) else {
            throw InferenceError.invalidModel("\(node.label): inputdimensions must give one width per input")
        }
    }

    func run(_ io: NodeIO) throws {
        let inputs = try (0..<widths.count).map { try FeatureRows(try io.requiredInput($0), label: label) }
        let rows = inputs.first?.rows ?? 0
        guard inputs.allSatisfy({ $0.rows == rows }) else {
            throw InferenceError.invalidInput("\(label) inputs differ in their number of rows")
        }
        let total = widths.reduce(0, +)
        let y = try io.output(0, .float32, [rows, total]).mutableElements(as: Float.self)
        y.update(repeating: 0)
        var offset = 0
        for (input, width) in zip(inputs, widths) {
            input.withValues { v in
                for r in 0..<rows {
                    for c in 0..<Swift.min(width, input.columns) { y[r * total + offset + c] = v[r * input.columns + c] }
                }
            }
            offset += width
        }
    }
}
