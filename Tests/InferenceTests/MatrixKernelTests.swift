import Inference
import Testing
import ZServeTesting

@Suite struct MatrixKernelTests {
    let a = floats([1, 2, 3, 4, 5, 6], [2, 3])          // 2×3
    let b = floats([1, 0, 2, 1, 0, 3, 1, 1, 1, 2, 0, 1], [3, 4]) // 3×4
    /// a · b, worked by hand.
    let ab: [Float] = [4, 12, 4, 6, 10, 27, 13, 15]

    @Test func gemmWithoutBias() throws {
        let y = try runNode("Gemm", [a, b])[0]
        #expect(y.shape == [2, 4])
        #expect(y.array(of: Float.self) == ab)
    }

    @Test func gemmTransposesScalesAndBroadcastsARowBias() throws {
        // transA: pass aᵀ (3×2); transB: pass bᵀ (4×3); C of shape [4] broadcast over rows.
        let at = floats([1, 4, 2, 5, 3, 6], [3, 2])
        let bt = floats([1, 0, 1, 0, 3, 2, 2, 1, 0, 1, 1, 1], [4, 3])
        let c = floats([1, 2, 3, 4], [4])
        let y = try runNode("Gemm", [at, bt, c], attributes: ["transA": 1, "transB": 1, "alpha": Float(0.5), "beta": Float(2)])[0]
        let expected = zip(ab, [1, 2, 3, 4, 1, 2, 3, 4] as [Float]).map { 0.5 * $0 + 2 * $1 }
        #expect(y.array(of: Float.self) == expected)
    }

    @Test func gemmBroadcastsColumnAndScalarBias() throws {
        let column = try runNode("Gemm", [a, b, floats([10, 20], [2, 1])])[0]
        #expect(column.array(of: Float.self) == [14, 22, 14, 16, 30, 47, 33, 35])
        let scalar = try runNode("Gemm", [a, b, floats([1], [])])[0]
        #expect(scalar.array(of: Float.self) == ab.map { $0 + 1 })
    }

    @Test func gemmTakesFullAndRowShapedBias() throws {
        let full = floats((0..<8).map(Float.init), [2, 4])
        #expect(try runNode("Gemm", [a, b, full])[0].array(of: Float.self) == zip(ab, (0..<8).map(Float.init)).map(+))
        let row = floats([1, 2, 3, 4], [1, 4])
        #expect(try runNode("Gemm", [a, b, row])[0].array(of: Float.self) == zip(ab, [1, 2, 3, 4, 1, 2, 3, 4] as [Float]).map(+))
    }

    @Test func gemmWithAnEmptyInnerDimensionIsBetaTimesC() throws {
        let empty = floats([], [2, 0]), none = floats([], [0, 4])
        let y = try runNode("Gemm", [empty, none, floats([1, 2, 3, 4], [4])], attributes: ["beta": Float(3)])[0]
        #expect(y.array(of: Float.self) == [3, 6, 9, 12, 3, 6, 9, 12])
        #expect(try runNode("Gemm", [empty, none])[0].array(of: Float.self) == [Float](repeating: 0, count: 8))
    }

    @Test func gemmRejectsMismatchedInnerDimensions() throws {
        #expect(throws: InferenceError.self) { try runNode("Gemm", [a, a]) }
    }

    @Test func gemmRejectsABiasThatDoesNotBroadcast() throws {
        #expect(throws: InferenceError.self) { try runNode("Gemm", [a, b, floats([1, 2, 3], [3])]) }
    }

    @Test func matmulOfMatrices() throws {
        #expect(try runNode("MatMul", [a, b])[0].array(of: Float.self) == ab)
    }

    @Test func matmulPromotesVectors() throws {
        let v = floats([1, 1, 1], [3])
        let left = try runNode("MatMul", [v, b])[0]
        #expect(left.shape == [4])
        #expect(left.array(of: Float.self) == [2, 5, 3, 3])
        let right = try runNode("MatMul", [a, v])[0]
        #expect(right.shape == [2])
        #expect(right.array(of: Float.self) == [6, 15])
    }

    @Test func matmulBroadcastsBatchDimensions() throws {
        // [2,1,2,3] × [3,3,4]: batch [2,1] and [3] broadcast to [2,3].
        let left = floats((0..<12).map(Float.init), [2, 1, 2, 3])
        let right = floats((0..<36).map { Float($0 % 5) }, [3, 3, 4])
        let y = try runNode("MatMul", [left, right])[0]
        #expect(y.shape == [2, 3, 2, 4])
        let l = left.array(of: Float.self), r = right.array(of: Float.self), out = y.array(of: Float.self)
        for i in 0..<2 { for j in 0..<3 { for m in 0..<2 { for n in 0..<4 {
            let want = (0..<3).reduce(Float(0)) { $0 + l[i * 6 + m * 3 + $1] * r[j * 12 + $1 * 4 + n] }
            #expect(out[((i * 3 + j) * 2 + m) * 4 + n] == want)
        } } } }
    }

    @Test func matmulWithAStackedLeftOperandEqualsPerBatchProducts() throws {
        let left = floats((0..<12).map(Float.init), [2, 2, 3])
        let y = try runNode("MatMul", [left, b])[0]
        #expect(y.shape == [2, 2, 4])
        let first = try runNode("MatMul", [floats((0..<6).map(Float.init), [2, 3]), b])[0]
        #expect(Array(y.array(of: Float.self)[0..<8]) == first.array(of: Float.self))
    }

    @Test func gemmFusedWithReluMatchesSeparateNodes() throws {
        var graph = ONNXGraphBuilder(opset: 17)
        graph.input("x", .float32, [nil, 3])
        graph.initializer("w", b)
        graph.initializer("c", floats([-10, -5, 0, 5], [4]))
        graph.node("Gemm", ["x", "w", "c"], ["h"])
        graph.node("Relu", ["h"], ["y"])
        graph.output("y", .float32, [nil, 4])
        let model = try Model(onnx: graph.serialized())
        #expect(model.operatorCounts == ["Gemm+Relu": 1], "Gemm and Relu fuse into one node")
        let session = model.makeSession()
        try session.setInput(0, a)
        let y = try session.run()[0]
        let expected = zip(ab, [-10, -5, 0, 5, -10, -5, 0, 5] as [Float]).map { max($0 + $1, 0) }
        #expect(y.array(of: Float.self) == expected)
    }
}
