/// The keys of an `ai.onnx.ml` label map (LabelEncoder, CategoryMapper, OneHotEncoder): each key's position among
/// the keys, looked up per element. The first of repeated keys wins.
enum LabelKeys: Sendable {
    case ints([Int64: Int])
    /// Sorted keys with the positions they had, looked up by binary search (NaN keys match NaN, sorted last).
    case floats([Float], [Int])
    case strings([String: Int])

    init(ints: [Int64]) {
        var map: [Int64: Int] = [:]
        for (i, key) in ints.enumerated() where map[key] == nil { map[key] = i }
        self = .ints(map)
    }

    init(floats: [Float]) {
        let order = floats.indices.sorted { Self.before(floats[$0], floats[$1]) }
        self = .floats(order.map { floats[$0] }, order)
    }

    init(strings: [String]) {
        var map: [String: Int] = [:]
        for (i, key) in strings.enumerated() where map[key] == nil { map[key] = i }
        self = .strings(map)
    }

    /// The element type inputs must have.
    var elementType: ElementType {
        switch self {
        case .ints: .int64
        case .floats: .float32
        case .strings: .string
        }
    }

    /// Each element's key position (nil: not a key), or nil when `x` is not of the keys' type.
    func positions(of x: Tensor) -> [Int?]? {
        switch (self, x.elementType) {
        case (.ints(let map), .int64): x.elements(as: Int64.self).map { map[$0] }
        case (.floats(let sorted, let order), .float32): x.elements(as: Float.self).map { Self.lookup($0, sorted, order) }
        case (.strings(let map), .string): x.strings.map { map[$0] }
        default: nil
        }
    }

    /// Total order with NaN last.
    private static func before(_ a: Float, _ b: Float) -> Bool {
        if a.isNaN { return false }
        if b.isNaN { return true }
        return a < b
    }

    private static func lookup(_ key: Float, _ sorted: [Float], _ positions: [Int]) -> Int? {
        var (low, high) = (0, sorted.count)
        while low < high {
            let mid = (low + high) / 2
            if before(sorted[mid], key) { low = mid + 1 } else { high = mid }
        }
        guard low < sorted.count, sorted[low] == key || (sorted[low].isNaN && key.isNaN) else { return nil }
        return positions[low]
    }
}

/// The values of an `ai.onnx.ml` label map, by key position, and the value of elements that are no key.
enum LabelValues: Sendable {
    /// Integers written as `type` (int64 unless a LabelEncoder's `values_tensor` says otherwise; each value is kept
    /// as int64 and truncated to the type's width when written).
    case ints([Int64], missing: Int64, type: ElementType = .int64)
    case floats([Float], missing: Float)
    case strings([String], missing: String)

    var count: Int {
        switch self {
        case .ints(let values, _, _): values.count
        case .floats(let values, _): values.count
        case .strings(let values, _): values.count
        }
    }

    /// The element type of the output.
    var elementType: ElementType {
        switch self {
        case .ints(_, _, let type): type
        case .floats: .float32
        case .strings: .string
        }
    }

    /// Writes the value of each position (the missing value for nil) into `y`, which has `positions.count` elements
    /// of `elementType`.
    func write(_ positions: [Int?], into y: Tensor) {
        switch self {
        case .ints(let values, let missing, _):
            func fill<T: FixedWidthInteger>(_: T.Type) {
                let out = y.mutableElements(as: T.self)
                for i in positions.indices { out[i] = T(truncatingIfNeeded: positions[i].map { values[$0] } ?? missing) }
            }
            // Truncation depends on the width only, not on the signedness.
            switch y.elementType.byteSize {
            case 1: fill(UInt8.self)
            case 2: fill(UInt16.self)
            case 4: fill(UInt32.self)
            default: fill(Int64.self)
            }
        case .floats(let values, let missing):
            let out = y.mutableElements(as: Float.self)
            for i in positions.indices { out[i] = positions[i].map { values[$0] } ?? missing }
        case .strings(let values, let missing):
            let out = y.mutableElements(as: String.self)
            for i in positions.indices { out[i] = positions[i].map { values[$0] } ?? missing }
        }
    }
}

/// A map from keys to values applied element by element: LabelEncoder's and CategoryMapper's kernel.
struct LabelMap: Sendable {
    let keys: LabelKeys
    let values: LabelValues
    let label: String

    /// Maps every element of input 0 into output 0 (same shape).
    ///
    /// - Throws: `InferenceError.invalidInput` when the input is not of the keys' element type.
    func run(_ io: NodeIO) throws {
        let x = try io.requiredInput(0)
        guard let positions = keys.positions(of: x) else {
            throw InferenceError.invalidInput("\(label) takes \(keys.elementType) keys, got \(x.elementType)")
        }
        values.write(positions, into: try io.output(0, values.elementType, x.shape, writingStrings: true))
    }
}
