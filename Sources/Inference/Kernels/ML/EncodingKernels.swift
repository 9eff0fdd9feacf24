/// OneHotEncoder (ai.onnx.ml) over integer categories (`cats_int64s`): x of shape S → float32 of shape S + [n],
/// 1 at the category's position. Float inputs are cast to int64 first, as onnxruntime does. A value that is no
/// category gives a zero row, or an invalid input when `zeros` is 0.
struct OneHotEncoderKernel: Kernel {
    let position: [Int64: Int]
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
        let (low, high) = (categories.min()!, categories.max()!)
        if high - low < 4096 {
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
        guard [.int64, .int32, .float32, .float64].contains(x.elementType) else {
            throw InferenceError.invalidInput("\(label) takes integer or float categories, got \(x.elementType)")
        }
        let y = try io.output(0, .float32, x.shape + [count]).mutableElements(as: Float.self)
        y.update(repeating: 0)
        for i in 0..<x.count {
            let value: Int64
            switch x.elementType {
            case .int64: value = x.elements(as: Int64.self)[i]
            case .int32: value = Int64(x.elements(as: Int32.self)[i])
            case .float32: value = try Self.integer(Double(x.elements(as: Float.self)[i]), label)
            default: value = try Self.integer(x.elements(as: Double.self)[i], label)
            }
            if let column = column(of: value) {
                y[i * count + column] = 1
            } else if !zerosAllowed {
                throw InferenceError.invalidInput("\(label): \(value) is not one of the categories (zeros = 0)")
            }
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
        func gather<T>(_: T.Type) {
            let (source, destination) = (x.elements(as: T.self), y.mutableElements(as: T.self))
            for row in 0..<outer {
                for j in indices.indices { destination[row * indices.count + j] = source[row * columns + indices[j]] }
            }
        }
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
