import Synchronization

/// How many threads one model run may use, and the loop that splits a kernel's work across them.
///
/// Process-wide, like the OpenBLAS setting it replaces. Above one, matrix products and large loops (element-wise
/// maps, rows of Softmax / LayerNorm / TopK, images of a convolution, recurrent batch rows) are cut into that many
/// parts run by the calling thread and `threadCount - 1` helper threads (`SpinningThreadPool`, one process-wide pool
/// used by one run at a time); each part calls OpenBLAS single-threaded, since OpenBLAS's own threads would spin
/// beside these. Work too small to pay for the hand-off runs on the caller. Several workers running models at once
/// should keep workers × threads within the cores.
public enum Parallelism {
    private static let width = Atomic<Int>(1)
    private static let pool = Mutex<SpinningThreadPool?>(nil)

    /// Threads one model run may use (at least 1).
    public static var threadCount: Int { width.load(ordering: .relaxed) }

    /// Sets the threads one model run may use, and OpenBLAS to one thread per call.
    public static func setThreadCount(_ count: Int) {
        let count = max(1, count)
        BLAS.setThreadCount(1)
        pool.withLock { pool in
            guard pool?.helperCount != count - 1 else { return }
            pool?.shutdown()
            pool = count > 1 ? SpinningThreadPool(helpers: count - 1) : nil
        }
        width.store(count, ordering: .relaxed)
    }

    /// Calls `body(part, range)` on consecutive ranges that cover `0..<count`: `parts(count, grain:)` of them, each
    /// at least `grain` long, or the whole range on the calling thread as part 0. Returns when every call has.
    ///
    /// `body` runs concurrently with itself: the ranges must touch disjoint memory. It must not throw or block on
    /// another part.
    @inline(__always)
    static func forEachChunk(_ count: Int, grain: Int, _ body: (_ part: Int, _ range: Range<Int>) -> Void) {
        forEachChunk(count, parts: parts(count, grain: grain), body)
    }

    /// `forEachChunk` into exactly `parts` ranges (part numbers below `parts`), for kernels that sized per-part
    /// scratch with `parts(_:grain:)`: the thread count may change between the two calls (another server in the
    /// process), and the split must not outgrow the scratch.
    @inline(__always)
    static func forEachChunk(_ count: Int, parts: Int, _ body: (_ part: Int, _ range: Range<Int>) -> Void) {
        let parts = Swift.min(parts, count)
        guard parts > 1 else {
            if count > 0 { body(0, 0..<count) }
            return
        }
        let helpers = pool.withLock { $0 }
        guard let helpers else { return body(0, 0..<count) }
        helpers.run(parts: parts) { part in body(part, (part * count / parts)..<((part + 1) * count / parts)) }
    }

    /// How many parts `forEachChunk(count, grain:)` cuts `count` into: for kernels that give each its own scratch.
    static func parts(_ count: Int, grain: Int) -> Int {
        Swift.max(1, Swift.min(threadCount, count / Swift.max(grain, 1)))
    }
}
