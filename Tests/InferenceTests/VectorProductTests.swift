import Testing
@testable import Inference

/// Products with few rows or columns go through sgemv, one per row or column, where OpenBLAS lacks small-matrix
/// sgemm kernels (`BLAS.vectorProducts`); every layout must compute what sgemm would: checked here against a double-precision sum,
/// within the float32 bound for the reduction length, on every machine whatever kernels it has.
@Suite struct VectorProductTests {
    struct Layout: CustomTestStringConvertible, Sendable {
        let m: Int, n: Int, k: Int
        let transposeA: Bool, transposeB: Bool
        var testDescription: String { "\(m)×\(k)·\(k)×\(n) transA \(transposeA) transB \(transposeB)" }
    }

    static let layouts: [Layout] = [
        (1, 37, 53), (29, 1, 41), (1, 1, 300), (1, 256, 256), (64, 1, 256), (2, 37, 53), (3, 256, 64), (29, 3, 41),
        (2, 2, 17),
    ].flatMap { m, n, k in
        [false, true].flatMap { ta in [false, true].map { tb in Layout(m: m, n: n, k: k, transposeA: ta, transposeB: tb) } }
    }

    @Test(arguments: layouts)
    func matchesTheExactProductWithStridesAlphaAndBeta(_ layout: Layout) {
        let (m, n, k) = (layout.m, layout.n, layout.k)
        // Stored shapes, with leading dimensions wider than needed so strides are exercised.
        let (aRows, aColumns) = layout.transposeA ? (k, m) : (m, k)
        let (bRows, bColumns) = layout.transposeB ? (n, k) : (k, n)
        let (lda, ldb, ldc) = (aColumns + 3, bColumns + 2, n + 5)
        func values(_ count: Int, _ seed: Int) -> [Float] {
            (0..<count).map { Float(($0 * 7919 + seed * 104_729) % 2001 - 1000) / 997 }
        }
        let a = values(aRows * lda, 1), b = values(bRows * ldb, 2)
        var c = values(m * ldc, 3)
        let original = c
        let (alpha, beta): (Float, Float) = (0.75, -0.5)
        a.withUnsafeBufferPointer { a in
            b.withUnsafeBufferPointer { b in
                c.withUnsafeMutableBufferPointer { c in
                    BLAS.vectorProducts(
                        transposeA: layout.transposeA, transposeB: layout.transposeB, m: m, n: n, k: k, alpha: alpha,
                        a: a.baseAddress!, lda: lda, b: b.baseAddress!, ldb: ldb, beta: beta, c: c.baseAddress!, ldc: ldc)
                }
            }
        }
        let u = 1.0 / Double(1 << 24)
        let gamma = Double(k + 2) * u / (1 - Double(k + 2) * u)
        for i in 0..<m {
            for j in 0..<n {
                var exact = Double(beta) * Double(original[i * ldc + j])
                var magnitude = abs(exact)
                for p in 0..<k {
                    let x = Double(layout.transposeA ? a[p * lda + i] : a[i * lda + p])
                    let y = Double(layout.transposeB ? b[j * ldb + p] : b[p * ldb + j])
                    exact += Double(alpha) * x * y
                    magnitude += abs(Double(alpha) * x * y)
                }
                let got = Double(c[i * ldc + j])
                #expect(abs(got - exact) <= 2 * gamma * magnitude + 1e-30, "C[\(i), \(j)] = \(got), exact \(exact)")
            }
        }
        // Padding between rows of C is left alone.
        for i in 0..<m {
            for j in n..<ldc { #expect(c[i * ldc + j] == original[i * ldc + j]) }
        }
    }
}
