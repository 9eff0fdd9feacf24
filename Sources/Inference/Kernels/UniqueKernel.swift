/// Unique (opset 11): the distinct elements of X (flattened), or its distinct slices along `axis`, any element type.
///
/// Outputs: Y (the distinct values or slices, ascending — slices compared element by element in row-major order —
/// or, with `sorted` 0, in order of first occurrence), and when the node asks for them: `indices` (where each one
/// first occurs in X), `inverse_indices` (for each element or slice of X, its position in Y) and `counts`, all
/// int64. Floating-point NaNs count as one value, after every number (as numpy's `unique`, the ONNX reference, does
/// for flattened input).
struct UniqueKernel: Kernel {
    let axis: Int?
    let sorted: Bool

    init(_ node: NodeDefinition) throws {
        try node.expectInputs(1)
        axis = try node.attributes.int("axis")
        sorted = try node.attributes.int("sorted", default: 1) != 0
    }

    func run(_ io: NodeIO) throws {
        let x = try io.requiredInput(0)
        // Slice s is made of the elements (o · count + s) · inner + i for o < outer and i < inner.
        let (count, outer, inner): (Int, Int, Int)
        var yShape: [Int]
        let axis = try self.axis.map { axis throws(InferenceError) in try normalizedAxis(axis, rank: x.rank) }
        if let axis {
            (count, outer, inner) = (x.shape[axis], x.shape[..<axis].reduce(1, *), x.shape[(axis + 1)...].reduce(1, *))
            yShape = x.shape
        } else {
            (count, outer, inner) = (x.count, 1, 1)
            yShape = [0]
        }
        let compare = Self.comparator(x)
        func compareSlices(_ a: Int, _ b: Int) -> Int {
            for o in 0..<outer {
                for i in 0..<inner {
                    let order = compare((o * count + a) * inner + i, (o * count + b) * inner + i)
                    if order != 0 { return order }
                }
            }
            return 0
        }
        // Sorted with the position breaking ties, so each run of equal slices starts with its first occurrence.
        let order = (0..<count).sorted { a, b in
            let order = compareSlices(a, b)
            return order != 0 ? order < 0 : a < b
        }
        var group = [Int](repeating: 0, count: count), firsts: [Int] = [], counts: [Int] = []
        for (position, slice) in order.enumerated() {
            if position == 0 || compareSlices(order[position - 1], slice) != 0 {
                firsts.append(slice)
                counts.append(0)
            }
            group[slice] = firsts.count - 1
            counts[counts.count - 1] += 1
        }
        var outputOrder = Array(firsts.indices)
        if !sorted { outputOrder.sort { firsts[$0] < firsts[$1] } }
        var position = [Int](repeating: 0, count: firsts.count)
        for (place, groupIndex) in outputOrder.enumerated() { position[groupIndex] = place }

        let distinct = firsts.count
        yShape[axis ?? 0] = distinct
        let y = try io.output(0, x.elementType, yShape)
        let size = x.elementType.byteSize
        for (place, groupIndex) in outputOrder.enumerated() {
            for o in 0..<outer {
                let from = (o * count + firsts[groupIndex]) * inner * size, to = (o * distinct + place) * inner * size
                (y.storage.pointer + to).copyMemory(from: x.storage.pointer + from, byteCount: inner * size)
            }
        }
        let wanted = io.outputIndexes.count
        if wanted > 1 {
            try Self.write(outputOrder.map { firsts[$0] }, to: io, 1)
        }
        if wanted > 2 {
            try Self.write((0..<count).map { position[group[$0]] }, to: io, 2)
        }
        if wanted > 3 {
            try Self.write(outputOrder.map { counts[$0] }, to: io, 3)
        }
    }

    private static func write(_ values: [Int], to io: NodeIO, _ output: Int) throws {
        let tensor = try io.output(output, .int64, [values.count])
        let out = tensor.mutableElements(as: Int64.self)
        for (i, value) in values.enumerated() { out[i] = Int64(value) }
    }

    /// Compares elements i and j of `x`: negative, 0 or positive. A total order: NaN equals NaN and sorts last.
    private static func comparator(_ x: Tensor) -> (Int, Int) -> Int {
        func ordered<T: Comparable>(_ values: UnsafeBufferPointer<T>) -> (Int, Int) -> Int {
            { i, j in values[i] < values[j] ? -1 : (values[j] < values[i] ? 1 : 0) }
        }
        func floating<T: FloatingPoint>(_ values: UnsafeBufferPointer<T>) -> (Int, Int) -> Int {
            { i, j in
                let (a, b) = (values[i], values[j])
                if a.isNaN || b.isNaN { return a.isNaN == b.isNaN ? 0 : (a.isNaN ? 1 : -1) }
                return a < b ? -1 : (b < a ? 1 : 0)
            }
        }
        switch x.elementType {
        case .float32: return floating(x.elements(as: Float.self))
        case .float64: return floating(x.elements(as: Double.self))
        case .float16: return floating(x.elements(as: Float16.self))
        case .int64: return ordered(x.elements(as: Int64.self))
        case .int32: return ordered(x.elements(as: Int32.self))
        case .int8: return ordered(x.elements(as: Int8.self))
        case .uint8, .bool: return ordered(x.elements(as: UInt8.self))
        case .int16: return ordered(x.elements(as: Int16.self))
        case .uint16: return ordered(x.elements(as: UInt16.self))
        case .uint32: return ordered(x.elements(as: UInt32.self))
        case .uint64: return ordered(x.elements(as: UInt64.self))
        case .string: return ordered(x.elements(as: String.self))
        }
    }
}
