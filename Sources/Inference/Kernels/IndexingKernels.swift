/// Reads index `i` of an int32 or int64 indices tensor as `Int`.
struct IndexReader {
    let int64: UnsafePointer<Int64>?
    let int32: UnsafePointer<Int32>?

    init(_ indices: Tensor, op: String) throws(InferenceError) {
        switch indices.elementType {
        case .int64: (int64, int32) = (indices.elements(as: Int64.self).baseAddress, nil)
        case .int32: (int64, int32) = (nil, indices.elements(as: Int32.self).baseAddress)
        default: throw InferenceError.invalidInput("\(op) indices must be int32 or int64, got \(indices.elementType)")
        }
    }

    /// Index `i` mapped into 0..<dim (negative values count from the end), or throws `invalidInput`.
    @inline(__always)
    func resolved(_ i: Int, dim: Int, op: String) throws(InferenceError) -> Int {
        let raw = int64.map { Int($0[i]) } ?? Int(int32![i])
        let value = raw < 0 ? raw + dim : raw
        guard value >= 0 && value < dim else {
            throw InferenceError.invalidInput("\(op) index \(raw) is out of range for an axis of size \(dim)")
        }
        return value
    }
}

/// Gather along `axis`: output shape data[..<axis] + indices + data[axis+1...]; negative indices count from the end,
/// out-of-range indices are an input error. Any element type.
struct GatherKernel: Kernel {
    let axis: Int

    init(_ node: NodeDefinition) throws {
        try node.expectInputs(2)
        axis = try node.attributes.int("axis", default: 0)
    }

    func run(_ io: NodeIO) throws {
        let data = try io.requiredInput(0)
        let indices = try io.requiredInput(1)
        let axis = try normalizedAxis(self.axis, rank: data.rank)
        let reader = try IndexReader(indices, op: "Gather")
        let dim = data.shape[axis]
        let outer = data.shape[..<axis].reduce(1, *)
        let inner = data.shape[(axis + 1)...].reduce(1, *)
        let y = try io.output(
            0, data.elementType, Array(data.shape[..<axis]) + indices.shape + data.shape[(axis + 1)...], writingStrings: true)
        let count = indices.count
        // Check every index before writing anything.
        for i in 0..<count { _ = try reader.resolved(i, dim: dim, op: "Gather") }
        guard y.count > 0 else { return }
        if data.elementType == .string { return try gather(String.self, data, y, reader, outer, dim, inner, count) }
        switch data.elementType.byteSize {
        case 1: try gather(UInt8.self, data, y, reader, outer, dim, inner, count)
        case 2: try gather(UInt16.self, data, y, reader, outer, dim, inner, count)
        case 4: try gather(UInt32.self, data, y, reader, outer, dim, inner, count)
        default: try gather(UInt64.self, data, y, reader, outer, dim, inner, count)
        }
    }

    private func gather<T>(
        _: T.Type, _ data: Tensor, _ y: Tensor, _ reader: IndexReader, _ outer: Int, _ dim: Int, _ inner: Int, _ count: Int
    ) throws {
        let src = data.elements(as: T.self).baseAddress!, dst = y.mutableElements(as: T.self).baseAddress!
        for o in 0..<outer {
            let block = src + o * dim * inner
            let out = dst + o * count * inner
            if inner == 1 {
                for i in 0..<count { out[i] = block[try reader.resolved(i, dim: dim, op: "Gather")] }
            } else {
                for i in 0..<count {
                    (out + i * inner).update(from: block + (try reader.resolved(i, dim: dim, op: "Gather")) * inner, count: inner)
                }
            }
        }
    }
}

/// GatherElements along `axis`: out[i] = data[i with its axis coordinate replaced by indices[i]]; indices has the
/// data's rank and no larger dimensions off the axis. Any element type.
struct GatherElementsKernel: Kernel {
    let axis: Int

    init(_ node: NodeDefinition) throws {
        try node.expectInputs(2)
        axis = try node.attributes.int("axis", default: 0)
    }

    func run(_ io: NodeIO) throws {
        let data = try io.requiredInput(0)
        let indices = try io.requiredInput(1)
        let axis = try normalizedAxis(self.axis, rank: data.rank)
        let reader = try IndexReader(indices, op: "GatherElements")
        guard indices.rank == data.rank,
              (0..<data.rank).allSatisfy({ $0 == axis || indices.shape[$0] <= data.shape[$0] })
        else {
            throw InferenceError.invalidInput("GatherElements indices \(indices.shape) do not fit data \(data.shape) on axis \(axis)")
        }
        let y = try io.output(0, data.elementType, indices.shape)
        guard y.count > 0 else { return }
        switch data.elementType.byteSize {
        case 1: try gather(UInt8.self, data, indices, y, reader, axis)
        case 2: try gather(UInt16.self, data, indices, y, reader, axis)
        case 4: try gather(UInt32.self, data, indices, y, reader, axis)
        default: try gather(UInt64.self, data, indices, y, reader, axis)
        }
    }

    private func gather<T>(_: T.Type, _ data: Tensor, _ indices: Tensor, _ y: Tensor, _ reader: IndexReader, _ axis: Int) throws {
        let src = data.elements(as: T.self).baseAddress!, dst = y.mutableElements(as: T.self).baseAddress!
        let dataStrides = data.shape.strides
        let shape = indices.shape
        let rank = shape.count
        let dim = data.shape[axis], axisStride = dataStrides[axis]
        var counter = [Int](repeating: 0, count: rank)
        var base = 0 // data offset of the current index position, without the axis coordinate
        for i in 0..<indices.count {
            dst[i] = src[base + (try reader.resolved(i, dim: dim, op: "GatherElements")) * axisStride]
            var d = rank - 1
            while d >= 0 {
                counter[d] += 1
                if d != axis { base += dataStrides[d] }
                if counter[d] < shape[d] { break }
                if d != axis { base -= dataStrides[d] * shape[d] }
                counter[d] = 0
                d -= 1
            }
        }
    }
}

/// TopK (opset ≥ 10, K as an int64 input): the K largest (or smallest) elements along `axis` and their int64
/// indices, sorted; equal values keep the lower index first. float32, float64 and every integer type. Contiguous float32 rows
/// (the last axis) go through `FloatTopK`, where NaN ranks after every number.
struct TopKKernel: Kernel {
    let axis: Int
    let largest: Bool

    init(_ node: NodeDefinition) throws {
        guard node.opsetVersion >= 10 else { throw InferenceError.unsupported(["TopK before opset 10 (k attribute)"]) }
        try node.expectInputs(2)
        axis = try node.attributes.int("axis", default: -1)
        largest = try node.attributes.int("largest", default: 1) != 0
        // sorted = 0 leaves the order unspecified; sorted output satisfies both.
        _ = try node.attributes.int("sorted", default: 1)
    }

    func run(_ io: NodeIO) throws {
        let x = try io.requiredInput(0)
        let kTensor = try io.requiredInput(1)
        guard kTensor.elementType == .int64, kTensor.count == 1 else {
            throw InferenceError.invalidInput("TopK K must be a single int64, got \(kTensor.elementType) \(kTensor.shape)")
        }
        let axis = try normalizedAxis(self.axis, rank: x.rank)
        let dim = x.shape[axis]
        let k64 = kTensor.elements(as: Int64.self)[0]
        guard k64 >= 0 && k64 <= Int64(dim) else {
            throw InferenceError.invalidInput("TopK K \(k64) is out of range for an axis of size \(dim)")
        }
        let k = Int(k64)
        var shape = x.shape
        shape[axis] = k
        let values = try io.output(0, x.elementType, shape)
        let indices = try io.output(1, .int64, shape)
        guard values.count > 0 else { return }
        let outer = x.shape[..<axis].reduce(1, *), inner = x.shape[(axis + 1)...].reduce(1, *)
        if x.elementType == .float32 && inner == 1 && k > 0 && dim <= Int(Int32.max) {
            return try selectRows(x, values, indices, rows: outer, dim, k, io)
        }
        switch x.elementType {
        case .float32: select(Float.self, x, values, indices, outer, dim, inner, k)
        case .float64: select(Double.self, x, values, indices, outer, dim, inner, k)
        case .int32: select(Int32.self, x, values, indices, outer, dim, inner, k)
        case .int64: select(Int64.self, x, values, indices, outer, dim, inner, k)
        case .int8: select(Int8.self, x, values, indices, outer, dim, inner, k)
        case .uint8: select(UInt8.self, x, values, indices, outer, dim, inner, k)
        case .int16: select(Int16.self, x, values, indices, outer, dim, inner, k)
        case .uint16: select(UInt16.self, x, values, indices, outer, dim, inner, k)
        case .uint32: select(UInt32.self, x, values, indices, outer, dim, inner, k)
        case .uint64: select(UInt64.self, x, values, indices, outer, dim, inner, k)
        default: throw InferenceError.invalidInput("TopK does not take \(x.elementType)")
        }
    }

    /// Contiguous float32 rows: `FloatTopK` per row, rows split across threads, each part with its own buffer.
    private func selectRows(
        _ x: Tensor, _ values: Tensor, _ indices: Tensor, rows: Int, _ dim: Int, _ k: Int, _ io: NodeIO
    ) throws {
        let selection = FloatTopK(k: k, largest: largest)
        let grain = Swift.max(1, 16384 / dim)
        let parts = Parallelism.parts(rows, grain: grain)
        let buffers = try io.scratch(FloatTopK.Candidate.self, count: parts * selection.capacity)
        let src = x.elements(as: Float.self).baseAddress!
        let outValues = values.mutableElements(as: Float.self).baseAddress!
        let outIndices = indices.mutableElements(as: Int64.self).baseAddress!
        Parallelism.forEachChunk(rows, parts: parts) { part, range in
            for row in range {
                selection.select(
                    src + row * dim, count: dim, values: outValues + row * k, indices: outIndices + row * k,
                    buffer: buffers + part * selection.capacity)
            }
        }
    }

    private func select<T: Comparable>(
        _: T.Type, _ x: Tensor, _ values: Tensor, _ indices: Tensor, _ outer: Int, _ dim: Int, _ inner: Int, _ k: Int
    ) {
        let src = x.elements(as: T.self).baseAddress!
        let outValues = values.mutableElements(as: T.self).baseAddress!
        let outIndices = indices.mutableElements(as: Int64.self).baseAddress!
        let largest = self.largest
        // A bounded heap of the k best seen so far, worst at the root: O(n log k) per slice.
        // Slices split across threads, each part with its own heap.
        Parallelism.forEachChunk(outer * inner, grain: Swift.max(1, 16384 / Swift.max(dim, 1))) { _, slices in
            var heap = [Int](repeating: 0, count: k)
            heap.withUnsafeMutableBufferPointer { heapBuffer in
                let heap = heapBuffer.baseAddress!
                for slice in slices {
                    let (o, i) = slice.quotientAndRemainder(dividingBy: inner)
                    let base = src + o * dim * inner + i
                    // better(a, b): a ranks before b (value first, then the lower index).
                    @inline(__always) func better(_ a: Int, _ b: Int) -> Bool {
                        let va = base[a * inner], vb = base[b * inner]
                        if va == vb { return a < b }
                        return largest ? va > vb : va < vb
                    }
                    func siftDown(_ start: Int, _ size: Int) {
                        var parent = start
                        while true {
                            let left = 2 * parent + 1
                            guard left < size else { return }
                            var worst = left
                            if left + 1 < size && better(heap[worst], heap[left + 1]) { worst = left + 1 }
                            guard better(heap[parent], heap[worst]) else { return }
                            heap.swapAt(parent, worst)
                            parent = worst
                        }
                    }
                    var size = 0
                    @inline(__always) func consider(_ j: Int) {
                        if size < k {
                            // Sift up.
                            var child = size
                            heap[child] = j
                            size += 1
                            while child > 0 {
                                let parent = (child - 1) / 2
                                guard better(heap[parent], heap[child]) else { break }
                                heap.swapAt(parent, child)
                                child = parent
                            }
                        } else if k > 0 && better(j, heap[0]) {
                            heap[0] = j
                            siftDown(0, size)
                        }
                    }
                    for j in 0..<dim { consider(j) }
                    // Pop the worst to the end repeatedly: the buffer ends up best-first.
                    var remaining = size
                    while remaining > 1 {
                        heap.swapAt(0, remaining - 1)
                        remaining -= 1
                        siftDown(0, remaining)
                    }
                    let outBase = o * k * inner + i
                    for r in 0..<k {
                        outValues[outBase + r * inner] = base[heap[r] * inner]
                        outIndices[outBase + r * inner] = Int64(heap[r])
                    }
                }
            }
        }
    }
}

extension UnsafeMutablePointer {
    @inline(__always)
    fileprivate func swapAt(_ i: Int, _ j: Int) {
        let t = self[i]
        self[i] = self[j]
        self[j] = t
    }
}
