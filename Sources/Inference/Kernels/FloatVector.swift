/// Eight float32 lanes: one AVX register when the kernels are built for AVX2 (see Package.swift), two SSE ones
/// otherwise.
///
/// Kernels whose loops the compiler will not vectorize on its own (reductions, which it may not reorder, and loops
/// over several pointers into one buffer, which it cannot prove apart) use these explicitly.
typealias FloatVector = SIMD8<Float>

extension FloatVector {
    /// Loads eight floats from `pointer`, which needs no alignment.
    @inline(__always)
    init(loading pointer: UnsafePointer<Float>) {
        self = UnsafeRawPointer(pointer).loadUnaligned(as: FloatVector.self)
    }

    /// Loads the first `count` (< 8) lanes from `pointer`; the others are `padding`.
    @inline(__always)
    init(loading pointer: UnsafePointer<Float>, count: Int, padding: Float = 0) {
        self.init(repeating: padding)
        for lane in 0..<count { self[lane] = pointer[lane] }
    }

    /// Loads min(`count`, 8) lanes from `pointer`; the others are 0.
    @inline(__always)
    init(loading pointer: UnsafePointer<Float>, upTo count: Int) {
        if count >= 8 { self.init(loading: pointer) } else { self.init(loading: pointer, count: count) }
    }

    /// Stores min(`count`, 8) lanes at `pointer`.
    @inline(__always)
    func store(to pointer: UnsafeMutablePointer<Float>, upTo count: Int) {
        if count >= 8 { store(to: pointer) } else { store(to: pointer, count: count) }
    }

    /// Stores the eight lanes at `pointer`, which needs no alignment.
    @inline(__always)
    func store(to pointer: UnsafeMutablePointer<Float>) {
        UnsafeMutableRawPointer(pointer).storeBytes(of: self, as: FloatVector.self)
    }

    /// Stores the first `count` (< 8) lanes at `pointer`.
    @inline(__always)
    func store(to pointer: UnsafeMutablePointer<Float>, count: Int) {
        for lane in 0..<count { pointer[lane] = self[lane] }
    }
}

extension FloatVector {
    /// The lane-wise larger of `self` and `other`: `self` where they are equal or `other` is NaN (MaxPool's order).
    /// One max instruction; the standard `pointwiseMax` handles NaN lane by lane and does not vectorize.
    @inline(__always)
    func larger(_ other: FloatVector) -> FloatVector {
        replacing(with: other, where: other .> self)
    }
}

/// One block of up to eight elements at `offset` in a row: loads and stores there, a short tail padded with 0.
struct VectorBlock {
    let offset: Int
    /// Elements of the row in this block: 8, or fewer in the tail.
    let lanes: Int

    @inline(__always)
    func load(_ row: UnsafePointer<Float>) -> FloatVector { FloatVector(loading: row + offset, upTo: lanes) }

    @inline(__always)
    func store(_ value: FloatVector, to row: UnsafeMutablePointer<Float>) { value.store(to: row + offset, upTo: lanes) }
}

/// Loops over float32 buffers eight lanes at a time, the tail through a padded vector.
enum VectorLoop {
    /// Calls `body` for each block of up to eight elements of a row of `count`, in order; the last may be short.
    @inline(__always)
    static func forEachBlock(_ count: Int, _ body: (VectorBlock) -> Void) {
        // Whole blocks with a constant lane count, so the padded load and store fold away in the main loop.
        var offset = 0
        while offset + 8 <= count {
            body(VectorBlock(offset: offset, lanes: 8))
            offset += 8
        }
        if offset < count { body(VectorBlock(offset: offset, lanes: count - offset)) }
    }

    /// Writes `body(src[i])` to `dst[i]` for `count` elements; `src` and `dst` may be the same memory.
    ///
    /// `body` sees whole vectors only; in the tail's vector the lanes past the end are 0 and their results dropped.
    @inline(__always)
    static func map(
        _ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, _ count: Int,
        _ body: (FloatVector) -> FloatVector
    ) {
        forEachBlock(count) { block in block.store(body(block.load(src)), to: dst) }
    }

    /// Writes `body(a[i], b[i])` to `dst[i]`; `dst` may be the same memory as `a` or `b`.
    @inline(__always)
    static func map(
        _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, _ count: Int,
        _ body: (FloatVector, FloatVector) -> FloatVector
    ) {
        forEachBlock(count) { block in block.store(body(block.load(a), block.load(b)), to: dst) }
    }

    /// Writes `body(a[i], b[i], c[i])` to `dst[i]`; `dst` may be the same memory as any input.
    @inline(__always)
    static func map(
        _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ c: UnsafePointer<Float>,
        _ dst: UnsafeMutablePointer<Float>, _ count: Int,
        _ body: (FloatVector, FloatVector, FloatVector) -> FloatVector
    ) {
        forEachBlock(count) { block in block.store(body(block.load(a), block.load(b), block.load(c)), to: dst) }
    }

    /// Copies `count` floats between buffers that do not overlap. Meant for short rows (tens of floats), where
    /// vector moves beat a call to memmove: the last vector overlaps the one before instead of a lane-by-lane tail.
    @inline(__always)
    static func copy(from src: UnsafePointer<Float>, to dst: UnsafeMutablePointer<Float>, count: Int) {
        guard count >= 8 else {
            for i in 0..<count { dst[i] = src[i] }
            return
        }
        var offset = 0
        while offset + 8 < count {
            FloatVector(loading: src + offset).store(to: dst + offset)
            offset += 8
        }
        FloatVector(loading: src + count - 8).store(to: dst + count - 8)
    }

    /// Calls `body(start, count)` on consecutive spans of `count` elements split across `Parallelism.threadCount`
    /// threads, each a whole number of vectors and at least 2,048 of them (16,384 floats): below that the hand-off
    /// costs more than it saves.
    ///
    /// Write the per-vector function as a literal inside `body` (`{ s, n in VectorLoop.map(a + s, b + s, n) { ... } }`):
    /// a function value captured from outside would be called, not inlined, once per vector.
    @inline(__always)
    static func forEachParallelSpan(_ count: Int, _ body: (_ start: Int, _ count: Int) -> Void) {
        Parallelism.forEachChunk((count + 7) / 8, grain: 2048) { _, vectors in
            let start = vectors.lowerBound * 8
            body(start, Swift.min(vectors.upperBound * 8, count) - start)
        }
    }

    /// The sum of `count` floats (summed in sixteen interleaved partial sums, so not in index order).
    @inline(__always)
    static func sum(_ p: UnsafePointer<Float>, _ count: Int) -> Float {
        var a = FloatVector(), b = FloatVector()
        var i = 0
        while i + 16 <= count {
            a += FloatVector(loading: p + i)
            b += FloatVector(loading: p + i + 8)
            i += 16
        }
        if i + 8 <= count {
            a += FloatVector(loading: p + i)
            i += 8
        }
        if i < count { b += FloatVector(loading: p + i, count: count - i) }
        return (a + b).sum()
    }

    /// The sum of (p[i] - center)² over `count` floats.
    @inline(__always)
    static func sumOfSquares(_ p: UnsafePointer<Float>, _ count: Int, around center: Float) -> Float {
        let c = FloatVector(repeating: center)
        var a = FloatVector(), b = FloatVector()
        var i = 0
        while i + 16 <= count {
            let d0 = FloatVector(loading: p + i) - c, d1 = FloatVector(loading: p + i + 8) - c
            a = FastMath.fma(d0, d0, a)
            b = FastMath.fma(d1, d1, b)
            i += 16
        }
        if i + 8 <= count {
            let d = FloatVector(loading: p + i) - c
            a = FastMath.fma(d, d, a)
            i += 8
        }
        if i < count {
            // Padding with the center makes the extra lanes contribute 0.
            let d = FloatVector(loading: p + i, count: count - i, padding: center) - c
            b = FastMath.fma(d, d, b)
        }
        return (a + b).sum()
    }

    /// The largest of `count` (≥ 1) floats; NaN if any is NaN.
    @inline(__always)
    static func max(_ p: UnsafePointer<Float>, _ count: Int) -> Float {
        var best = FloatVector(repeating: -.infinity)
        var nan = SIMDMask<SIMD8<Int32>>()
        var i = 0
        while i + 8 <= count {
            let v = FloatVector(loading: p + i)
            nan .|= v .!= v
            best = best.larger(v)
            i += 8
        }
        if i < count {
            let v = FloatVector(loading: p + i, count: count - i, padding: -.infinity)
            nan .|= v .!= v
            best = best.larger(v)
        }
        return any(nan) ? .nan : best.max()
    }
}
