/// How ScatterElements and ScatterND combine an update with the element it lands on.
enum ScatterReduction: String, Sendable {
    case none, add, mul, max, min

    init(_ node: NodeDefinition) throws {
        let name = try node.attributes.string("reduction") ?? "none"
        guard let value = ScatterReduction(rawValue: name) else {
            throw InferenceError.unsupported(["\(node.label): reduction '\(name)'"])
        }
        self = value
    }

    /// Copies `data` into `y` and applies each (target element, update element) pair `pairs` yields, in order. With
    /// no reduction any element type is moved by size; the reductions take float32, float64, int8, uint8, int32, int64.
    func apply(_ data: Tensor, _ updates: Tensor, into y: Tensor, _ op: String, pairs: ((Int, Int) -> Void) throws -> Void) throws {
        guard updates.elementType == data.elementType else {
            throw InferenceError.invalidInput("\(op) updates are \(updates.elementType), data \(data.elementType)")
        }
        y.storage.pointer.copyMemory(from: data.storage.pointer, byteCount: data.byteCount)
        func combine<T: _ReduceArithmetic>(_: T.Type) throws {
            let out = y.mutableElements(as: T.self), values = updates.elements(as: T.self)
            switch self {
            case .none: try pairs { out[$0] = values[$1] }
            case .add: try pairs { out[$0] = T.add(out[$0], values[$1]) }
            case .mul: try pairs { out[$0] = T.multiply(out[$0], values[$1]) }
            case .max: try pairs { out[$0] = T.larger(out[$0], values[$1]) }
            case .min: try pairs { out[$0] = T.smaller(out[$0], values[$1]) }
            }
        }
        switch data.elementType {
        case .float32: try combine(Float.self)
        case .float64: try combine(Double.self)
        case .int8: try combine(Int8.self)
        case .uint8: try combine(UInt8.self)
        case .int32: try combine(Int32.self)
        case .int64: try combine(Int64.self)
        case .float16 where self == .none: try combine(Float16.self)
        case .bool where self == .none: try combine(UInt8.self)
        default: throw InferenceError.invalidInput("\(op) reduction \(rawValue) does not take \(data.elementType)")
        }
    }
}

/// ScatterElements (and its older name Scatter): a copy of data with each update written at its own position,
/// except along `axis`, where the index says where; `reduction` combines instead of overwriting. Negative indices count
/// from the end; out-of-range ones are an input error.
struct ScatterElementsKernel: Kernel {
    let axis: Int
    let reduction: ScatterReduction

    init(_ node: NodeDefinition) throws {
        try node.expectInputs(3)
        axis = try node.attributes.int("axis", default: 0)
        reduction = node.opType == "Scatter" ? .none : try ScatterReduction(node)
    }

    func run(_ io: NodeIO) throws {
        let data = try io.requiredInput(0), indices = try io.requiredInput(1), updates = try io.requiredInput(2)
        let axis = try normalizedAxis(self.axis, rank: data.rank)
        guard indices.shape == updates.shape, indices.rank == data.rank else {
            throw InferenceError.invalidInput("ScatterElements indices \(indices.shape) and updates \(updates.shape) must match, of data's rank \(data.rank)")
        }
        let reader = try IndexReader(indices, op: "ScatterElements")
        let y = try io.output(0, data.elementType, data.shape)
        let (dataStrides, indexShape) = (data.shape.strides, indices.shape)
        try reduction.apply(data, updates, into: y, "ScatterElements") { body in
            var counter = [Int](repeating: 0, count: indexShape.count)
            for position in 0..<indices.count {
                var target = 0
                for d in 0..<indexShape.count {
                    let coordinate = d == axis ? try reader.resolved(position, dim: data.shape[d], op: "ScatterElements") : counter[d]
                    guard coordinate < data.shape[d] else {
                        throw InferenceError.invalidInput("ScatterElements indices \(indexShape) exceed data \(data.shape)")
                    }
                    target += coordinate * dataStrides[d]
                }
                body(target, position)
                var d = indexShape.count - 1
                while d >= 0 {
                    counter[d] += 1
                    if counter[d] < indexShape[d] { break }
                    counter[d] = 0
                    d -= 1
                }
            }
        }
    }
}

/// ScatterND: a copy of data with each update slice written at the data prefix its index tuple (the last axis of
/// indices) names; `reduction` combines instead of overwriting.
struct ScatterNDKernel: Kernel {
    let reduction: ScatterReduction

    init(_ node: NodeDefinition) throws {
        try node.expectInputs(3)
        reduction = try ScatterReduction(node)
    }

    func run(_ io: NodeIO) throws {
        let data = try io.requiredInput(0), indices = try io.requiredInput(1), updates = try io.requiredInput(2)
        guard let depth = indices.shape.last, depth <= data.rank,
              updates.shape == Array(indices.shape.dropLast()) + data.shape[depth...]
        else {
            throw InferenceError.invalidInput("ScatterND indices \(indices.shape) and updates \(updates.shape) do not fit data \(data.shape)")
        }
        let reader = try IndexReader(indices, op: "ScatterND")
        let y = try io.output(0, data.elementType, data.shape)
        let slice = data.shape[depth...].reduce(1, *), strides = data.shape.strides
        let tuples = indices.count / Swift.max(depth, 1)
        try reduction.apply(data, updates, into: y, "ScatterND") { body in
            for tuple in 0..<(depth == 0 ? updates.count / Swift.max(slice, 1) : tuples) {
                var target = 0
                for d in 0..<depth { target += try reader.resolved(tuple * depth + d, dim: data.shape[d], op: "ScatterND") * strides[d] }
                for i in 0..<slice { body(target + i, tuple * slice + i) }
            }
        }
    }
}

/// GatherND: for each index tuple (the last axis of indices), the data slice it names, after `batch_dims` leading axes
/// that data and indices share. Any element type.
struct GatherNDKernel: Kernel {
    let batchDims: Int

    init(_ node: NodeDefinition) throws {
        try node.expectInputs(2)
        batchDims = try node.attributes.int("batch_dims", default: 0)
    }

    func run(_ io: NodeIO) throws {
        let data = try io.requiredInput(0), indices = try io.requiredInput(1)
        let b = batchDims
        guard let depth = indices.shape.last, b >= 0, b < indices.rank, b + depth <= data.rank,
              data.shape.prefix(b) == indices.shape.prefix(b)
        else {
            throw InferenceError.invalidInput("GatherND indices \(indices.shape) do not fit data \(data.shape) with batch_dims \(b)")
        }
        let reader = try IndexReader(indices, op: "GatherND")
        let shape = Array(indices.shape.dropLast()) + data.shape[(b + depth)...]
        let y = try io.output(0, data.elementType, shape)
        let batches = data.shape.prefix(b).reduce(1, *)
        let tuplesPerBatch = indices.shape[b..<(indices.rank - 1)].reduce(1, *)
        let slice = data.shape[(b + depth)...].reduce(1, *)
        let batchSize = data.shape[b...].reduce(1, *)
        let strides = data.shape.strides
        let size = data.elementType.byteSize
        let (src, dst) = (data.storage.pointer, y.storage.pointer)
        for batch in 0..<batches {
            for t in 0..<tuplesPerBatch {
                let tuple = batch * tuplesPerBatch + t
                var offset = batch * batchSize
                for d in 0..<depth {
                    offset += try reader.resolved(tuple * depth + d, dim: data.shape[b + d], op: "GatherND") * strides[b + d]
                }
                (dst + tuple * slice * size).copyMemory(from: src + offset * size, byteCount: slice * size)
            }
        }
    }
}
