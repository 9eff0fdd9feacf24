import Foundation
@testable import Inference
import Synchronization
import Testing
import ZServeTesting

/// Intra-op parallelism: the loop split itself, and kernels large enough to split giving the answers they give on
/// one thread. Tests that change the process-wide thread count restore 1 when done; other tests running meanwhile
/// only see their kernels split, which must not change their results either.
@Suite(.serialized) struct ParallelismTests {
    @Test(arguments: [0, 1, 7, 100, 1_000], [1, 3, 64])
    func chunksCoverTheRangeOnceAndRespectTheGrain(count: Int, grain: Int) {
        Parallelism.setThreadCount(2)
        defer { Parallelism.setThreadCount(1) }
        let seen = Mutex<[(part: Int, range: Range<Int>)]>([])
        Parallelism.forEachChunk(count, grain: grain) { part, range in
            seen.withLock { $0.append((part, range)) }
        }
        let chunks = seen.withLock { $0 }.sorted { $0.range.lowerBound < $1.range.lowerBound }
        #expect(chunks.count == (count == 0 ? 0 : Parallelism.parts(count, grain: grain)))
        var next = 0
        for chunk in chunks {
            #expect(chunk.range.lowerBound == next)
            if chunks.count > 1 { #expect(chunk.range.count >= grain) }
            next = chunk.range.upperBound
        }
        #expect(next == count)
        #expect(Set(chunks.map(\.part)) == Set(0..<chunks.count))
    }

    /// A kernel sizes per-part scratch with `parts`, then splits; the thread count may rise in between (another
    /// server in the process), and the split must still stay within the parts it sized for.
    @Test func aSplitStaysWithinThePartsItWasSizedFor() {
        Parallelism.setThreadCount(1)
        let sized = Parallelism.parts(1_000, grain: 1)
        Parallelism.setThreadCount(2)
        defer { Parallelism.setThreadCount(1) }
        let parts = Mutex<Set<Int>>([])
        Parallelism.forEachChunk(1_000, parts: sized) { part, _ in parts.withLock { _ = $0.insert(part) } }
        #expect(sized == 1)
        #expect(parts.withLock { $0 } == [0])
        Parallelism.forEachChunk(1_000, parts: 2) { part, _ in parts.withLock { _ = $0.insert(part) } }
        #expect(parts.withLock { $0 } == [0, 1])
    }

    @Test func oneThreadRunsOnTheCaller() {
        Parallelism.setThreadCount(1)
        let caller = Thread.current
        Parallelism.forEachChunk(10_000, grain: 1) { part, range in
            #expect(part == 0 && range == 0..<10_000)
            #expect(Thread.current == caller)
        }
    }

    /// Inputs in [-2, 2) from a fixed seed.
    private static func random(_ shape: [Int], seed: UInt64) -> Tensor {
        var state = seed
        let values = (0..<shape.reduce(1, *)).map { _ -> Float in
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Float(state >> 40) / Float(1 << 24) * 4 - 2
        }
        return Tensor(float32: values, shape: shape)
    }

    /// Copies a run's outputs (they view the session's buffers).
    private static func copies(_ tensors: [Tensor]) -> [Tensor] {
        tensors.map { tensor in
            switch tensor.elementType {
            case .int64: Tensor(int64: Array(tensor.elements(as: Int64.self)), shape: tensor.shape)
            default: Tensor(float32: Array(tensor.elements(as: Float.self)), shape: tensor.shape)
            }
        }
    }

    struct Case: CustomTestStringConvertible, Sendable {
        let opType: String
        let shapes: [[Int]]
        let attributes: [String: Int]
        let extra: [Int64]?
        var testDescription: String { "\(opType) \(shapes)" }
    }

    static let cases: [Case] = [
        Case(opType: "MatMul", shapes: [[256, 128], [128, 64]], attributes: [:], extra: nil),
        Case(opType: "MatMul", shapes: [[2, 128], [128, 2048]], attributes: [:], extra: nil),
        Case(opType: "MatMul", shapes: [[64, 16, 32], [64, 32, 16]], attributes: [:], extra: nil),
        Case(opType: "Gelu", shapes: [[64, 1024]], attributes: [:], extra: nil),
        Case(opType: "Sigmoid", shapes: [[64, 1024]], attributes: [:], extra: nil),
        Case(opType: "Softmax", shapes: [[512, 64]], attributes: [:], extra: nil),
        Case(opType: "Add", shapes: [[256, 256], [256]], attributes: [:], extra: nil),
        Case(opType: "Div", shapes: [[256], [256, 256]], attributes: [:], extra: nil),
        Case(opType: "Conv", shapes: [[8, 3, 16, 16], [16, 3, 3, 3]], attributes: [:], extra: nil),
        Case(opType: "Conv", shapes: [[4, 8, 16, 16], [12, 8, 3, 3]], attributes: [:], extra: nil),
        Case(opType: "MaxPool", shapes: [[8, 16, 32, 32]], attributes: [:], extra: nil),
        Case(opType: "TopK", shapes: [[64, 5000]], attributes: [:], extra: [50]),
    ]

    @Test(arguments: cases)
    func kernelsAgreeOnOneAndTwoThreads(_ testCase: Case) throws {
        var inputs = testCase.shapes.enumerated().map { Self.random($0.element, seed: UInt64($0.offset + 1)) }
        if let extra = testCase.extra { inputs.append(Tensor(int64: extra, shape: [extra.count])) }
        let opset = testCase.opType == "Gelu" ? 20 : 17
        var attributes: [String: Any] = [:]
        if testCase.opType == "MaxPool" { attributes = ["kernel_shape": [2, 2], "strides": [2, 2]] }
        let outputs = testCase.opType == "TopK" ? 2 : 1
        Parallelism.setThreadCount(1)
        let one = Self.copies(try runNode(testCase.opType, inputs, opset: opset, attributes: attributes, outputs: outputs))
        Parallelism.setThreadCount(2)
        defer { Parallelism.setThreadCount(1) }
        let two = try runNode(testCase.opType, inputs, opset: opset, attributes: attributes, outputs: outputs)
        // A split GEMM runs OpenBLAS on smaller blocks, for which some CPUs' kernels (AMD EPYC, OpenBLAS 0.3.21)
        // sum in another order: allow float32 rounding over the reduction (128 terms here), not just 1e-6.
        let tolerance = ["MatMul", "Conv"].contains(testCase.opType) ? 1e-5 : 1e-6
        for (a, b) in zip(one, two) {
            let mismatch = Tolerance.mismatch(b, a, rtol: tolerance, atol: tolerance)
            #expect(mismatch == nil, "\(mismatch ?? "")")
        }
    }
}
