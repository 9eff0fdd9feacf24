/// Multidirectional (numpy-style) broadcasting of several shapes to one.
struct Broadcast {
    /// The broadcast result shape.
    let shape: [Int]
    /// Per input: the element stride along each axis of `shape` (0 where the input is repeated).
    let strides: [[Int]]

    /// Broadcasts `shapes`; throws when two dimensions differ and neither is 1.
    init(_ shapes: [[Int]]) throws(InferenceError) {
        let rank = shapes.map(\.count).max() ?? 0
        var result = [Int](repeating: 1, count: rank)
        for shape in shapes {
            let offset = rank - shape.count
            for (axis, dim) in shape.enumerated() {
                let current = result[offset + axis]
                if current == dim || dim == 1 { continue }
                guard current == 1 else {
                    throw InferenceError.invalidInput("shapes \(shapes.map { "\($0)" }.joined(separator: ", ")) do not broadcast")
                }
                result[offset + axis] = dim
            }
        }
        try result.validateShape()
        var strides: [[Int]] = []
        for shape in shapes {
            let padded = [Int](repeating: 1, count: rank - shape.count) + shape
            let own = padded.strides
            strides.append((0..<rank).map { padded[$0] == 1 && result[$0] != 1 ? 0 : own[$0] })
        }
        // Merge neighbouring axes every input walks contiguously (or repeats entirely), so the inner loop is long.
        var mergedShape: [Int] = []
        var mergedStrides = [[Int]](repeating: [], count: shapes.count)
        for axis in 0..<rank where result[axis] != 1 || axis == rank - 1 {
            if let last = mergedShape.last,
               (0..<shapes.count).allSatisfy({ strides[$0][axis] * result[axis] == mergedStrides[$0].last! }) {
                mergedShape[mergedShape.count - 1] = last * result[axis]
                for input in 0..<shapes.count { mergedStrides[input][mergedStrides[input].count - 1] = strides[input][axis] }
            } else {
                mergedShape.append(result[axis])
                for input in 0..<shapes.count { mergedStrides[input].append(strides[input][axis]) }
            }
        }
        self.resultShape = result
        self.shape = mergedShape
        self.strides = mergedStrides
    }

    /// The broadcast shape as the caller sees it (before axes were merged).
    let resultShape: [Int]

    /// Calls `body(outputOffset, inputOffsets, count, innerStrides)` for each run along the innermost axis.
    /// Always inlined: element-wise callers pass closures whose per-element calls must inline into the loop.
    @inline(__always)
    func forEachRow(_ body: (Int, [Int], Int, [Int]) -> Void) {
        let rank = shape.count
        guard rank > 0, !shape.contains(0) else {
            if rank == 0 { body(0, strides.map { _ in 0 }, 1, strides.map { _ in 0 }) }
            return
        }
        let inner = shape[rank - 1]
        let innerStrides = strides.map { $0[rank - 1] }
        let rows = shape.dropLast().reduce(1, *)
        var counter = [Int](repeating: 0, count: rank - 1)
        var offsets = [Int](repeating: 0, count: strides.count)
        for row in 0..<rows {
            body(row * inner, offsets, inner, innerStrides)
            // Advance the multi-index over the outer axes, updating each input's offset.
            var axis = rank - 2
            while axis >= 0 {
                counter[axis] += 1
                for input in 0..<strides.count { offsets[input] += strides[input][axis] }
                if counter[axis] < shape[axis] { break }
                for input in 0..<strides.count { offsets[input] -= strides[input][axis] * shape[axis] }
                counter[axis] = 0
                axis -= 1
            }
        }
    }

    /// Writes `f(a, b)` element-wise into `y` (shaped `resultShape`), `a` and `b` broadcast as this was built for.
    @inline(__always)
    func map<A, B, Y>(
        _ a: UnsafeBufferPointer<A>, _ b: UnsafeBufferPointer<B>, into y: UnsafeMutableBufferPointer<Y>,
        _ f: (A, B) -> Y
    ) {
        guard let pa = a.baseAddress, let pb = b.baseAddress, let py = y.baseAddress else { return }
        forEachRow { out, offsets, count, steps in
            let x = pa + offsets[0], z = pb + offsets[1], o = py + out
            // After axis merging the innermost stride is 1 (walks) or 0 (repeats), and at least one input walks.
            // Separate loops per pattern keep each one simple enough to vectorize.
            if steps[0] == 1 && steps[1] == 1 {
                for i in 0..<count { o[i] = f(x[i], z[i]) }
            } else if steps[1] == 0 {
                let s = z[0]
                for i in 0..<count { o[i] = f(x[i], s) }
            } else {
                let s = x[0]
                for i in 0..<count { o[i] = f(s, z[i]) }
            }
        }
    }
}
