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

    /// Constant weights given transposed are stored untransposed at load: same result as B given at run time, and
    /// the model counts the stored copy instead of the constant.
    @Test func gemmWithConstantTransposedWeightsMatchesRunTimeWeights() throws {
        let at = floats([1, 4, 2, 5, 3, 6], [3, 2])
        let bt = floats([1, 0, 1, 0, 3, 2, 2, 1, 0, 1, 1, 1], [4, 3])
        let c = floats([1, 2, 3, 4], [4])
        let attributes: [String: Any] = ["transA": 1, "transB": 1, "alpha": Float(0.5), "beta": Float(2)]
        let atRunTime = try runNode("Gemm", [at, bt, c], attributes: attributes)[0]
        let constant = try runNode("Gemm", [at, bt, c], attributes: attributes, constantInputs: [1, 2])[0]
        #expect(constant.array(of: Float.self) == atRunTime.array(of: Float.self))

        var graph = ONNXGraphBuilder(opset: 17)
        graph.input("x", .float32, [nil, 3])
        graph.initializer("w", bt)
        graph.node("Gemm", ["x", "w"], ["y"], ["transB": 1])
        graph.output("y", .float32, nil)
        #expect(try Model(onnx: graph.serialized()).weightBytes == bt.byteCount)
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

/// MatMul with its neighbours folded in at load: the fused model must give what the nodes give one at a time.
@Suite struct MatMulFusionTests {
    /// Runs `graph` (input "x" of `x`'s shape, output "y") and returns the output and the fused operator counts.
    func run(_ graph: ONNXGraphBuilder, _ x: Tensor) throws -> (Tensor, [String: Int]) {
        let model = try Model(onnx: graph.serialized())
        let session = model.makeSession()
        try session.setInput(0, x)
        return (try session.run()[0], model.operatorCounts)
    }

    @Test func attentionScoresFoldTransposeAndScale() throws {
        var random = SeededRandom(seed: 21)
        let q = random.tensor([2, 5, 8]), k = random.tensor([2, 5, 8])
        var graph = ONNXGraphBuilder(opset: 17)
        graph.input("x", .float32, [nil, 5, 8])
        graph.initializer("k", k)
        graph.initializer("scale", floats([2.828_427], []))
        graph.node("Transpose", ["k"], ["kt"], ["perm": [0, 2, 1]])
        graph.node("MatMul", ["x", "kt"], ["s"])
        graph.node("Div", ["s", "scale"], ["y"])
        graph.output("y", .float32, nil)
        let (y, counts) = try run(graph, q)
        #expect(counts == ["Transpose+MatMul+Div": 1])
        let kt = try runNode("Transpose", [k], attributes: ["perm": [0, 2, 1]])[0]
        let s = try runNode("MatMul", [q, kt])[0]
        let expected = try runNode("Div", [s, floats([2.828_427], [])])[0]
        // Transposed and plain B go through different BLAS kernels: a reduction of 8 terms in another order.
        let magnitudes = try runNode("Div", [
            try runNode("MatMul", [Tolerance.absolute(q), Tolerance.absolute(kt)])[0], floats([2.828_427], []),
        ])[0]
        #expect(Tolerance.reductionMismatch(y, expected, terms: 8, magnitudes: magnitudes) == nil)
    }

    @Test(arguments: ["Gelu", "Relu", "Sigmoid", "Tanh", ""])
    func biasAndActivationFoldIntoTheProduct(_ activation: String) throws {
        var random = SeededRandom(seed: 8)
        let x = random.tensor([3, 4, 6]), w = random.tensor([6, 10]), bias = random.tensor([10])
        var graph = ONNXGraphBuilder(opset: 20)
        graph.input("x", .float32, [nil, 4, 6])
        graph.initializer("w", w)
        graph.initializer("b", bias)
        graph.node("MatMul", ["x", "w"], ["h"])
        graph.node("Add", ["b", "h"], [activation.isEmpty ? "y" : "biased"])
        if !activation.isEmpty { graph.node(activation, ["biased"], ["y"]) }
        graph.output("y", .float32, nil)
        let (y, counts) = try run(graph, x)
        #expect(counts == [activation.isEmpty ? "MatMul+Add" : "MatMul+Add+\(activation)": 1])
        var expected = try runNode("Add", [try runNode("MatMul", [x, w])[0], bias])[0]
        if !activation.isEmpty { expected = try runNode(activation, [expected], opset: 20)[0] }
        // The fused node sums the 6 products and the bias in another order than MatMul then Add; the activations
        // (Lipschitz ≤ 1.13 for Gelu) carry that difference through.
        let magnitudes = try runNode("Add", [
            try runNode("MatMul", [Tolerance.absolute(x), Tolerance.absolute(w)])[0], Tolerance.absolute(bias),
        ])[0]
        let scaled = Tensor(float32: magnitudes.elements(as: Float.self).map { $0 * 1.13 }, shape: magnitudes.shape)
        #expect(Tolerance.reductionMismatch(y, expected, terms: 7, magnitudes: scaled) == nil)
    }

    /// Neighbours whose meaning a fold would change stay separate nodes.
    @Test func foldsThatWouldChangeTheResultAreNotMade() throws {
        var random = SeededRandom(seed: 2)
        func counts(_ build: (inout ONNXGraphBuilder) -> Void) throws -> [String: Int] {
            var graph = ONNXGraphBuilder(opset: 20)
            graph.input("x", .float32, [nil, 4])
            graph.initializer("w", random.tensor([4, 3]))
            build(&graph)
            graph.output("y", .float32, nil)
            return try Model(onnx: graph.serialized()).operatorCounts
        }
        // A [1, 3] bias could broadcast further; a scalar divided by the product is not a scale.
        #expect(try counts { g in
            g.initializer("b", random.tensor([1, 3]))
            g.node("MatMul", ["x", "w"], ["h"])
            g.node("Add", ["h", "b"], ["y"])
        } == ["MatMul": 1, "Add": 1])
        #expect(try counts { g in
            g.initializer("c", floats([2], []))
            g.node("MatMul", ["x", "w"], ["h"])
            g.node("Div", ["c", "h"], ["y"])
        } == ["MatMul": 1, "Div": 1])
        // Gelu's tanh approximation is not the fused one; a Transpose of other axes is not a transposed B.
        #expect(try counts { g in
            g.node("MatMul", ["x", "w"], ["h"])
            g.node("Gelu", ["h"], ["y"], ["approximate": "tanh"])
        } == ["MatMul": 1, "Gelu": 1])
        #expect(try counts { g in
            g.initializer("v", random.tensor([3, 4, 2]))
            g.node("Transpose", ["v"], ["vt"], ["perm": [1, 0, 2]])
            g.node("MatMul", ["x", "vt"], ["y"])
        } == ["Transpose": 1, "MatMul": 1])
    }
}
