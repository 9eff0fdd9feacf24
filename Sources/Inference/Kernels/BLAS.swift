import COpenBLAS

/// The OpenBLAS calls kernels use.
public enum BLAS {
    /// Sets the OpenBLAS thread count for the process (OpenBLAS keeps one global pool); `Parallelism.setThreadCount`
    /// sets it to 1 and splits products itself.
    static func setThreadCount(_ count: Int) {
        openblas_set_num_threads(Int32(max(1, count)))
    }

    /// OpenBLAS's name for the CPU whose kernels it runs ("Haswell", "SkylakeX", …): chosen by CPU model when the
    /// library loads, or pinned with `OPENBLAS_CORETYPE`. Benchmarks print it, since it changes speed several-fold.
    public static var coreName: String {
        guard let name = openblas_get_corename() else { return "unknown" }
        return String(cString: name)
    }

    /// Products smaller than this many multiply-adds run on one thread: splitting them costs more than it saves.
    static let parallelWork = 1 << 18

    /// C = alpha · op(A) · op(B) + beta · C for row-major matrices; op(A) is M×K, op(B) is K×N, C is M×N.
    ///
    /// Pointers must cover the matrices for the given leading dimensions; `a`/`b` are only read. Large products
    /// are split across `Parallelism.threadCount` threads by rows of C (or by columns when there are few rows);
    /// callers that already run in parallel parts use `sgemmSerial`.
    static func sgemm(
        transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, alpha: Float,
        a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
        beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        guard Parallelism.threadCount > 1, m * n * k >= parallelWork else {
            return sgemmSerial(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, alpha: alpha,
                               a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
        }
        if m >= 32 {
            // Rows of C: rows of op(A), which are A's rows, or its columns when transposed.
            Parallelism.forEachChunk(m, grain: 16) { _, rows in
                sgemmSerial(transposeA: transposeA, transposeB: transposeB, m: rows.count, n: n, k: k, alpha: alpha,
                            a: a + (transposeA ? rows.lowerBound : rows.lowerBound * lda), lda: lda, b: b, ldb: ldb,
                            beta: beta, c: c + rows.lowerBound * ldc, ldc: ldc)
            }
        } else {
            // Columns of C: columns of op(B), which are B's columns, or its rows when transposed.
            Parallelism.forEachChunk(n, grain: 64) { _, columns in
                sgemmSerial(transposeA: transposeA, transposeB: transposeB, m: m, n: columns.count, k: k, alpha: alpha,
                            a: a, lda: lda, b: b + (transposeB ? columns.lowerBound * ldb : columns.lowerBound), ldb: ldb,
                            beta: beta, c: c + columns.lowerBound, ldc: ldc)
            }
        }
    }

    /// `sgemm` on the calling thread only.
    static func sgemmSerial(
        transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, alpha: Float,
        a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
        beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        if k > 0 && m > 0 && n > 0 && min(m, n) <= vectorProductLimit && !hasSmallMatrixKernels {
            return vectorProducts(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, alpha: alpha,
                                  a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
        }
        cblas_sgemm(
            CblasRowMajor, transposeA ? CblasTrans : CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans,
            blasint(m), blasint(n), blasint(k), alpha, a, blasint(lda), b, blasint(ldb), beta, c, blasint(ldc))
    }
}

extension BLAS {
    /// Whether OpenBLAS multiplies a one-row (or one-column) product through sgemm without packing cost: only its
    /// AVX-512 cores have small-matrix sgemm kernels. On the others (Haswell, Zen, and every CPU without AVX-512)
    /// sgemm packs all of B for one row — a dense layer's 256×256 product at batch 1 takes 15–20 µs there and
    /// 3 µs as a matrix-vector product (sgemv), measured with OpenBLAS 0.3.21.
    static let hasSmallMatrixKernels = ["skylakex", "cooperlake", "sapphirerapids"].contains(coreName.lowercased())

    /// Products with at most this many rows (or columns) run as one sgemv per row (column) on those cores: sgemm
    /// packs B whatever the row count, which costs more than a few passes over it. `zserve perf` on the CTR MLP
    /// (64→256→256→1), OpenBLAS 0.3.21 Zen kernels, p50: batch 2 37 → 13.5 µs, batch 3 55 → 16 µs; sgemm takes
    /// 26–33 µs at batch 4 and 35–48 µs at batch 8, where rows cost 3–5 µs each.
    static let vectorProductLimit = 4

    /// C = alpha · op(A) · op(B) + beta · C as one sgemv per row of C (or per column, when there are fewer
    /// columns): for products with few rows or columns (same contract as `sgemmSerial`; M, N and K positive).
    static func vectorProducts(
        transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, alpha: Float,
        a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
        beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        if m <= n {
            // Row i of C from row i of op(A): A's row i, or its column i when stored transposed.
            for i in 0..<m {
                sgemvProduct(transposeA: transposeA, transposeB: transposeB, m: 1, n: n, k: k, alpha: alpha,
                             a: a + (transposeA ? i : i * lda), lda: lda, b: b, ldb: ldb, beta: beta,
                             c: c + i * ldc, ldc: ldc)
            }
        } else {
            // Column j of C from column j of op(B): B's column j, or its row j when stored transposed.
            for j in 0..<n {
                sgemvProduct(transposeA: transposeA, transposeB: transposeB, m: m, n: 1, k: k, alpha: alpha,
                             a: a, lda: lda, b: b + (transposeB ? j * ldb : j), ldb: ldb, beta: beta,
                             c: c + j, ldc: ldc)
            }
        }
    }

    /// C = alpha · op(A) · op(B) + beta · C when M or N is 1, as one sgemv (same contract as `sgemmSerial`; M, N and
    /// K positive; C's row or column is the only one written).
    static func sgemvProduct(
        transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, alpha: Float,
        a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
        beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        if m == 1 {
            // The row of C is op(B)ᵀ · (the row of op(A)); that row is A's first row, or its first column when
            // A is stored transposed ([k × 1], one element per row of lda).
            let incA = blasint(transposeA ? lda : 1)
            // B stored [k × n]: Bᵀ · a; stored transposed, [n × k]: B · a.
            let (rows, columns) = transposeB ? (n, k) : (k, n)
            cblas_sgemv(CblasRowMajor, transposeB ? CblasNoTrans : CblasTrans, blasint(rows), blasint(columns), alpha,
                        b, blasint(ldb), a, incA, beta, c, 1)
        } else {
            // The column of C (one element per row of ldc) is op(A) · (the column of op(B)): B's first column
            // ([k × 1], one element per row of ldb), or its first row when stored transposed.
            let incB = blasint(transposeB ? 1 : ldb)
            // A stored [m × k]: A · b; stored transposed, [k × m]: Aᵀ · b.
            let (rows, columns) = transposeA ? (k, m) : (m, k)
            cblas_sgemv(CblasRowMajor, transposeA ? CblasTrans : CblasNoTrans, blasint(rows), blasint(columns), alpha,
                        a, blasint(lda), b, incB, beta, c, blasint(ldc))
        }
    }
}

/// Element types with a BLAS matrix product: C = alpha · A · op(B), row-major, B optionally transposed.
protocol GEMMScalar: BinaryFloatingPoint {
    static func gemm(
        m: Int, n: Int, k: Int, alpha: Self, a: UnsafePointer<Self>, lda: Int, b: UnsafePointer<Self>, ldb: Int,
        transposeB: Bool, c: UnsafeMutablePointer<Self>, ldc: Int)
}

extension Float: GEMMScalar {
    static func gemm(
        m: Int, n: Int, k: Int, alpha: Float, a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
        transposeB: Bool, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        BLAS.sgemm(transposeA: false, transposeB: transposeB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b,
                   ldb: ldb, beta: 0, c: c, ldc: ldc)
    }
}

extension Double: GEMMScalar {
    static func gemm(
        m: Int, n: Int, k: Int, alpha: Double, a: UnsafePointer<Double>, lda: Int, b: UnsafePointer<Double>, ldb: Int,
        transposeB: Bool, c: UnsafeMutablePointer<Double>, ldc: Int
    ) {
        cblas_dgemm(CblasRowMajor, CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans, blasint(m), blasint(n),
                    blasint(k), alpha, a, blasint(lda), b, blasint(ldb), 0, c, blasint(ldc))
    }
}
