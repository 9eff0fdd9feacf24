/// OneHotEncoder (ai.onnx.ml) over integer categories (`cats_int64s`) or string categories (`cats_strings`): x of
/// shape S → float32 of shape S + [n], 1 at the category's position. Float inputs to integer categories are cast to
/// int64 first, as onnxruntime does. A value that is no category gives a zero row, or an invalid input when `zeros`
/// is 0.
struct OneHotEncoderKernel: Kernel {
    let position: [Int64: Int]
    /// The string categories' columns, when the categories are strings.
    let stringPosition: LabelKeys?
    /// Column of category `lowest + i` (−1 when none), when the categories span a small range: the lookup then
    /// needs no hashing.
    let table: [Int32]
    let lowest: Int64
    let count: Int
    let zerosAllowed: Bool
    let label: String

    init(_ node: NodeDefinition) throws {
        try node.expectInputs(1)
        let a = node.attributes
        let strings = try a.strings("cats_strings") ?? []
        let categories = try a.ints("cats_int64s") ?? []
        guard strings.isEmpty || categories.isEmpty else {
            throw InferenceError.invalidModel("\(node.label) has both string and integer categories")
        }
        stringPosition = strings.isEmpty ? nil : LabelKeys(strings: strings)
        guard !categories.isEmpty || !strings.isEmpty else { throw InferenceError.invalidModel("\(node.label) has no categories") }
        var position: [Int64: Int] = [:]
        for (i, c) in categories.enumerated() where position[Int64(c)] == nil { position[Int64(c)] = i }
        self.position = position
        count = max(categories.count, strings.count)
        let (low, high) = (categories.min() ?? 0, categories.max() ?? 0)
        if !categories.isEmpty && high - low < 4096 {
            var table = [Int32](repeating: -1, count: high - low + 1)
            for (value, column) in position { table[Int(value) - low] = Int32(column) }
            self.table = table
        } else {
            table = []
        }
        lowest = Int64(low)
        zerosAllowed = try a.int("zeros", default: 1) != 0
        label = node.label
    }

    func run(_ io: NodeIO) throws {
        let x = try io.requiredInput(0)
        let y = try io.output(0, .float32, x.shape + [count]).mutableElements(as: Float.self)
        y.update(repeating: 0)
        if let stringPosition {
            guard let columns = stringPosition.positions(of: x) else {
                throw InferenceError.invalidInput("\(label) takes string categories, got \(x.elementType)")
            }
            for (i, column) in columns.enumerated() {
                if let column {
                    y[i * count + column] = 1
                } else if !zerosAllowed {
                    throw InferenceError.invalidInput("\(label): '\(x.strings[i].prefix(40))' is not one of the categories (zeros = 0)")
                }
            }
            return
        }
        func place(_ i: Int, _ value: Int64) throws {
            if let column = column(of: value) {
                y[i * count + column] = 1
            } else if !zerosAllowed {
                throw InferenceError.invalidInput("\(label): \(value) is not one of the categories (zeros = 0)")
            }
        }
        switch x.elementType {
        case .int64: for (i, v) in x.elements(as: Int64.self).enumerated() { try place(i, v) }
        case .int32: for (i, v) in x.elements(as: Int32.self).enumerated() { try place(i, Int64(v)) }
        case .float32: for (i, v) in x.elements(as: Float.self).enumerated() { try place(i, try Self.integer(Double(v), label)) }
        case .float64: for (i, v) in x.elements(as: Double.self).enumerated() { try place(i, try Self.integer(v, label)) }
        default: throw InferenceError.invalidInput("\(label) takes integer or float categories, got \(x.elementType)")
        }
    }

    @inline(__always)
    private func column(of value: Int64) -> Int? {
        guard !table.isEmpty else { return position[value] }
        let offset = value &- lowest
        guard offset >= 0, offset < Int64(table.count), table[Int(offset)] >= 0 else { return nil }
        return Int(table[Int(offset)])
    }

    private static func integer(_ value: Double, _ label: String) throws -> Int64 {
        guard value.isFinite, abs(value) < 9.2e18 else {
            throw InferenceError.invalidInput("\(label): \(value) is not a category")
        }
        return Int64(value)
    }
}

/// LabelEncoder (ai.onnx.ml): keys of int64, float32 or string mapped to values of int64, float32 or string (and, from a
/// `values_tensor`, any integer type)
/// (`keys_int64s` / `keys_floats` / `keys_strings` / `values_*`, or from opset 4 `keys_tensor` / `values_tensor`);
/// keys not in the map take the default (`default_int64` −1, `default_float` −0.0, `default_string` "_Unused", or
/// `default_tensor`).
struct LabelEncoderKernel: Kernel {
    let map: LabelMap

    init(_ node: NodeDefinition) throws {
        try node.expectInputs(1)
        let a = node.attributes
        let label = node.label
        // Each kind of keys given, with its length.
        var keys: [(LabelKeys, Int)] = []
        if let ints = try a.ints("keys_int64s") { keys.append((LabelKeys(ints: ints.map(Int64.init)), ints.count)) }
        if let floats = try a.floats("keys_floats") { keys.append((LabelKeys(floats: floats), floats.count)) }
        if let strings = try a.strings("keys_strings") { keys.append((LabelKeys(strings: strings), strings.count)) }
        if let tensor = try a.tensor("keys_tensor") {
            switch tensor.elementType {
            case .int64: keys.append((LabelKeys(ints: tensor.array(of: Int64.self)), tensor.count))
            case .float32: keys.append((LabelKeys(floats: tensor.array(of: Float.self)), tensor.count))
            case .string: keys.append((LabelKeys(strings: tensor.array(of: String.self)), tensor.count))
            default: throw InferenceError.unsupported(["\(label) keys_tensor of \(tensor.elementType)"])
            }
        }
        var defaultInt = Int64(try a.int("default_int64", default: -1))
        var defaultFloat = try a.float("default_float", default: -0.0)
        var defaultString = try a.string("default_string") ?? "_Unused"
        // default_tensor (opset 4) gives the default of its type, whichever form the values take.
        if let defaultTensor = try a.tensor("default_tensor") {
            guard defaultTensor.count == 1 else {
                throw InferenceError.invalidModel("\(label): default_tensor must hold one value")
            }
            switch defaultTensor.elementType {
            case let type where type.isInteger: defaultInt = try Self.widened(defaultTensor)[0]
            case .float32: defaultFloat = defaultTensor.array(of: Float.self)[0]
            case .string: defaultString = defaultTensor.array(of: String.self)[0]
            default: throw InferenceError.unsupported(["\(label) default_tensor of \(defaultTensor.elementType)"])
            }
        }
        var values: [LabelValues] = []
        if let ints = try a.ints("values_int64s") { values.append(.ints(ints.map(Int64.init), missing: defaultInt)) }
        if let floats = try a.floats("values_floats") { values.append(.floats(floats, missing: defaultFloat)) }
        if let strings = try a.strings("values_strings") { values.append(.strings(strings, missing: defaultString)) }
        if let tensor = try a.tensor("values_tensor") {
            switch tensor.elementType {
            case let type where type.isInteger: values.append(.ints(try Self.widened(tensor), missing: defaultInt, type: type))
            case .float32: values.append(.floats(tensor.array(of: Float.self), missing: defaultFloat))
            case .string: values.append(.strings(tensor.array(of: String.self), missing: defaultString))
            default: throw InferenceError.unsupported(["\(label) values_tensor of \(tensor.elementType)"])
            }
        }
        guard keys.count == 1, values.count == 1 else {
            throw InferenceError.invalidModel("\(label) needs one kind of keys and one kind of values")
        }
        guard keys[0].1 == values[0].count else {
            throw InferenceError.invalidModel("\(label): keys and values differ in length")
        }
        map = LabelMap(keys: keys[0].0, values: values[0], label: label)
    }

    func run(_ io: NodeIO) throws {
        try map.run(io)
    }

    /// An integer attribute tensor's values as int64 (unsigned 64-bit values above Int64.max wrap; they are truncated
    /// back to the tensor's width when written).
    private static func widened(_ tensor: Tensor) throws -> [Int64] {
        let wide = Tensor(elementType: .int64, shape: tensor.shape, storage: TensorStorage(byteCapacity: tensor.count * 8))
        try CastKernel.convert(tensor, to: wide)
        return wide.array(of: Int64.self)
    }
}

/// CategoryMapper (ai.onnx.ml): strings to int64 and int64 to strings through the pairs (`cats_strings[i]`,
/// `cats_int64s[i]`); the direction is the input's type. Unmapped values become `default_int64` (−1) or
/// `default_string` ("_Unused").
struct CategoryMapperKernel: Kernel {
    let toIntegers: LabelMap
    let toStrings: LabelMap

    init(_ node: NodeDefinition) throws {
        try node.expectInputs(1)
        let a = node.attributes
        let strings = try a.strings("cats_strings") ?? []
        let ints = (try a.ints("cats_int64s") ?? []).map(Int64.init)
        guard strings.count == ints.count else {
            throw InferenceError.invalidModel("\(node.label): cats_strings and cats_int64s differ in length")
        }
        toIntegers = LabelMap(
            keys: LabelKeys(strings: strings),
            values: .ints(ints, missing: Int64(try a.int("default_int64", default: -1))), label: node.label)
        toStrings = LabelMap(
            keys: LabelKeys(ints: ints),
            values: .strings(strings, missing: try a.string("default_string") ?? "_Unused"), label: node.label)
    }

    func run(_ io: NodeIO) throws {
        let x = try io.requiredInput(0)
        try (x.elementType == .string ? toIntegers : toStrings).run(io)
    }
}

/// ArrayFeatureExtractor (ai.onnx.ml): the elements of X's last axis at the int64 indices Y; [..., C] → [..., len(Y)]
/// (a 1-D X gives [1, len(Y)]). Any element type, strings included.
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
        let y = try io.output(0, x.elementType, shape, writingStrings: true)
        func gather<T>(_: T.Type) {
            let (source, destination) = (x.elements(as: T.self), y.mutableElements(as: T.self))
            for row in 0..<outer {
                for j in indices.indices { destination[row * indices.count + j] = source[row * columns + indices[j]] }
            }
        }
        if x.elementType == .string { return gather(String.self) }
        switch x.elementType.byteSize {
        case 1: gather(UInt8.self)
        case 2: gather(UInt16.self)
        case 4: gather(UInt32.self)
        default: gather(UInt64.self)
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
