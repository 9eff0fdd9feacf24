import Foundation
import Inference
import ONNXSchema
import Testing
import ZServeTesting

/// Conv, pooling, BatchNormalization, Dropout, GRU and LSTM: hand-computed edge cases and sweeps against direct
/// (loop-by-loop) reference implementations. ONNX's own node tests for them run in `NodeConformanceTests`.
@Suite struct VisionKernelTests {
    // MARK: Conv

    @Test func convWithPaddingByHand() throws {
        // 3×3 input 1…9, 2×2 kernel of ones, pads 1 on top/left only, stride 1: each output sums a window.
        let x = floats((1...9).map(Float.init), [1, 1, 3, 3])
        let w = floats([1, 1, 1, 1], [1, 1, 2, 2])
        let y = try runNode("Conv", [x, w], attributes: ["pads": [1, 1, 0, 0]])[0]
        #expect(y.shape == [1, 1, 3, 3])
        #expect(y.array(of: Float.self) == [1, 3, 5, 5, 12, 16, 11, 24, 28])
    }

    @Test func convWithStrideDilationAndBiasByHand() throws {
        // 5×5 input 0…24, 2×2 kernel [1, 2; 3, 4] dilated by 2 (taps at +0 and +2), stride 2, bias 10.
        let x = floats((0..<25).map(Float.init), [1, 1, 5, 5])
        let w = floats([1, 2, 3, 4], [1, 1, 2, 2])
        let y = try runNode("Conv", [x, w, floats([10], [1])], attributes: ["dilations": [2, 2], "strides": [2, 2]])[0]
        #expect(y.shape == [1, 1, 2, 2])
        func at(_ r: Int, _ c: Int) -> Float { Float(r * 5 + c) }
        let expected = [(0, 0), (0, 2), (2, 0), (2, 2)].map { (r, c) in
            10 + at(r, c) + 2 * at(r, c + 2) + 3 * at(r + 2, c) + 4 * at(r + 2, c + 2)
        }
        #expect(y.array(of: Float.self) == expected)
    }

    @Test func convAutoPadSameLowerAndUpperDifferWhereThePaddingIsOdd() throws {
        // 1×4 input, kernel 1×2 of ones: SAME pads one column, at the start (LOWER) or at the end (UPPER).
        let x = floats([1, 2, 3, 4], [1, 1, 1, 4])
        let w = floats([1, 1], [1, 1, 1, 2])
        let lower = try runNode("Conv", [x, w], attributes: ["auto_pad": "SAME_LOWER"])[0]
        let upper = try runNode("Conv", [x, w], attributes: ["auto_pad": "SAME_UPPER"])[0]
        #expect(lower.array(of: Float.self) == [1, 3, 5, 7])
        #expect(upper.array(of: Float.self) == [3, 5, 7, 4])
        let valid = try runNode("Conv", [x, w], attributes: ["auto_pad": "VALID", "kernel_shape": [1, 2]])[0]
        #expect(valid.shape == [1, 1, 1, 3])
        #expect(valid.array(of: Float.self) == [3, 5, 7])
    }

    @Test func convSweepMatchesDirectConvolution() throws {
        var random = SeededRandom(seed: 7)
        // (channels, maps, group, size, kernel, stride, dilation, pads, autoPad)
        let configurations: [(Int, Int, Int, [Int], [Int], [Int], [Int], [Int], String)] = [
            (3, 4, 1, [7, 6], [3, 3], [1, 1], [1, 1], [1, 1, 1, 1], "NOTSET"),
            (4, 6, 2, [6, 7], [3, 2], [2, 1], [1, 2], [0, 1, 2, 0], "NOTSET"),
            (2, 4, 1, [5, 5], [1, 1], [1, 1], [1, 1], [0, 0, 0, 0], "NOTSET"),      // 1×1 fast path
            (4, 6, 2, [4, 5], [1, 1], [1, 1], [1, 1], [0, 0, 0, 0], "NOTSET"),      // grouped 1×1
            (2, 3, 1, [5, 5], [1, 1], [2, 2], [1, 1], [1, 0, 0, 1], "NOTSET"),      // 1×1 with stride and pads
            (3, 3, 3, [6, 6], [3, 3], [1, 1], [1, 1], [1, 1, 1, 1], "NOTSET"),      // depthwise
            (3, 6, 3, [7, 5], [3, 3], [2, 2], [2, 1], [2, 1, 0, 2], "NOTSET"),      // depthwise, multiplier 2
            (2, 2, 2, [6, 6], [3, 3], [2, 2], [1, 1], [], "SAME_UPPER"),
            (2, 3, 1, [6, 7], [4, 3], [3, 2], [1, 2], [], "SAME_LOWER"),
            (3, 2, 1, [6, 7], [2, 3], [2, 2], [1, 1], [], "VALID"),
            (2, 2, 1, [1, 9], [1, 3], [1, 2], [1, 2], [0, 1, 0, 1], "NOTSET"),
        ]
        for (channels, maps, group, size, kernel, stride, dilation, pads, autoPad) in configurations {
            let x = random.tensor([2, channels] + size)
            let w = random.tensor([maps, channels / group] + kernel)
            let b = random.tensor([maps])
            var attributes: [String: Any] = ["group": group, "strides": stride, "dilations": dilation, "auto_pad": autoPad]
            if !pads.isEmpty { attributes["pads"] = pads }
            let y = try runNode("Conv", [x, w, b], attributes: attributes, constantInputs: [1, 2])[0]
            let expected = Reference.conv(x, w, b, group: group, stride: stride, dilation: dilation, pads: pads, autoPad: autoPad)
            #expect(Tolerance.mismatch(y, expected) == nil, "Conv \(attributes): \(Tolerance.mismatch(y, expected) ?? "")")
        }
    }

    @Test func conv1DMatchesDirectConvolution() throws {
        var random = SeededRandom(seed: 11)
        let x = random.tensor([2, 3, 10])
        let w = random.tensor([4, 3, 3])
        let y = try runNode("Conv", [x, w], attributes: ["pads": [2, 1], "strides": [2], "dilations": [2]])[0]
        let expected = Reference.conv(
            x.reshaped4D(), floats(w.array(of: Float.self), [4, 3, 1, 3]), nil, group: 1, stride: [1, 2],
            dilation: [1, 2], pads: [0, 2, 0, 1], autoPad: "NOTSET")
        #expect(y.shape == [2, 4, expected.shape[3]])
        #expect(Tolerance.mismatch(y, expected.reshaped(y.shape)) == nil)
    }

    @Test func convFusesReluAndMatchesSeparateNodes() throws {
        var random = SeededRandom(seed: 3)
        let w = random.tensor([4, 2, 3, 3]), b = random.tensor([4]), x = random.tensor([1, 2, 5, 5])
        var graph = ONNXGraphBuilder(opset: 17)
        graph.input("x", .float32, [nil, 2, nil, nil])
        graph.initializer("w", w)
        graph.initializer("b", b)
        graph.node("Conv", ["x", "w", "b"], ["h"], ["pads": [1, 1, 1, 1]])
        graph.node("Relu", ["h"], ["y"])
        graph.output("y", .float32, nil)
        let model = try Model(onnx: graph.serialized())
        #expect(model.operatorCounts == ["Conv+Relu": 1])
        let session = model.makeSession()
        try session.setInput(0, x)
        let y = try session.run()[0]
        let plain = Reference.conv(x, w, b, group: 1, stride: [1, 1], dilation: [1, 1], pads: [1, 1, 1, 1], autoPad: "NOTSET")
        let expected = floats(plain.array(of: Float.self).map { max($0, 0) }, plain.shape)
        #expect(Tolerance.mismatch(y, expected) == nil)
    }

    /// Conv → BatchNormalization → Relu with constant weights and statistics loads as one node (the normalization
    /// folded into W and B) and gives what the nodes give one at a time; statistics that are graph inputs (not known
    /// at load) leave the nodes apart. Both with and without a Conv bias, and over 8 maps (the small-depth path).
    @Test(arguments: [true, false])
    func convFoldsBatchNormalizationAndMatchesSeparateNodes(hasBias: Bool) throws {
        var random = SeededRandom(seed: hasBias ? 5 : 6)
        let w = random.tensor([8, 3, 3, 3]), b = random.tensor([8]), x = random.tensor([2, 3, 7, 6])
        let scale = random.tensor([8]), offset = random.tensor([8]), mean = random.tensor([8])
        let variance = floats(random.tensor([8]).array(of: Float.self).map { abs($0) + 0.1 }, [8])
        func model(constantStatistics: Bool) throws -> Model {
            var graph = ONNXGraphBuilder(opset: 17)
            graph.input("x", .float32, [nil, 3, nil, nil])
            graph.initializer("w", w)
            if hasBias { graph.initializer("b", b) }
            for (name, tensor) in [("scale", scale), ("offset", offset), ("mean", mean), ("variance", variance)] {
                if constantStatistics { graph.initializer(name, tensor) } else { graph.input(name, .float32, [8]) }
            }
            graph.node("Conv", hasBias ? ["x", "w", "b"] : ["x", "w"], ["h"], ["pads": [1, 1, 1, 1]])
            graph.node("BatchNormalization", ["h", "scale", "offset", "mean", "variance"], ["n"], ["epsilon": Float(1e-3)])
            graph.node("Relu", ["n"], ["y"])
            graph.output("y", .float32, nil)
            return try Model(onnx: graph.serialized())
        }
        let folded = try model(constantStatistics: true)
        #expect(folded.operatorCounts == ["Conv+BatchNormalization+Relu": 1])
        let apart = try model(constantStatistics: false)
        #expect(apart.operatorCounts["BatchNormalization+Relu"] == 1)
        let foldedSession = folded.makeSession(), apartSession = apart.makeSession()
        try foldedSession.setInput(0, x)
        try apartSession.setInput(0, x)
        for (index, tensor) in [scale, offset, mean, variance].enumerated() { try apartSession.setInput(index + 1, tensor) }
        let y = try foldedSession.run()[0], expected = try apartSession.run()[0]
        // Folding reorders a few roundings per output: (Σ w·x)·a against Σ (w·a)·x, 27 terms each.
        #expect(Tolerance.mismatch(y, expected, rtol: 1e-5, atol: 1e-5) == nil)
        #expect(y.array(of: Float.self).contains { $0 > 0 })
    }

    struct PoolCase: Sendable, CustomTestStringConvertible {
        let input: [Int]
        /// Output maps: multiples of eight take the small-depth path (up to 32 taps), others im2col + GEMM.
        var maps = 4
        var activation = "Relu"
        let pool: [String: [Int]]
        var testDescription: String { "x \(input), \(maps) maps, \(activation), MaxPool \(pool)" }
    }

    /// Conv + activation + MaxPool load as one node (each image pooled from scratch, or pooled in registers on the
    /// small-depth path) and give what the three nodes give one at a time: the 2×2 column-pair loop (even and odd
    /// widths, several images), other interior windows, padded windows, 1-D; 8, 32 and 40 maps; Gelu, which is
    /// not monotonic and so cannot wait until after the pooling.
    @Test(arguments: [
        PoolCase(input: [3, 1, 14, 14], pool: ["kernel_shape": [2, 2], "strides": [2, 2]]),
        PoolCase(input: [2, 2, 13, 21], pool: ["kernel_shape": [2, 2], "strides": [2, 2]]),
        PoolCase(input: [2, 2, 11, 40], pool: ["kernel_shape": [2, 2], "strides": [1, 2]]),
        PoolCase(input: [1, 2, 9, 9], pool: ["kernel_shape": [3, 3], "strides": [2, 2]]),
        PoolCase(input: [2, 1, 8, 8], pool: ["kernel_shape": [2, 2], "strides": [2, 2], "pads": [1, 1, 1, 1]]),
        PoolCase(input: [2, 3, 30], pool: ["kernel_shape": [2], "strides": [2]]),
        PoolCase(input: [3, 1, 14, 14], maps: 32, pool: ["kernel_shape": [2, 2], "strides": [2, 2]]),
        PoolCase(input: [2, 3, 9, 11], maps: 40, pool: ["kernel_shape": [3, 2], "strides": [2, 1]]),
        PoolCase(input: [2, 1, 10, 10], maps: 8, activation: "Gelu", pool: ["kernel_shape": [2, 2], "strides": [2, 2]]),
        PoolCase(input: [2, 2, 12, 12], maps: 16, activation: "Sigmoid", pool: ["kernel_shape": [2, 2]]),
        PoolCase(input: [2, 2, 8, 8], maps: 8, pool: ["kernel_shape": [2, 2], "strides": [2, 2], "pads": [1, 1, 1, 1]]),
        PoolCase(input: [2, 3, 30], maps: 24, pool: ["kernel_shape": [2], "strides": [2]]),
    ])
    func convActivationMaxPoolFuseAndMatchSeparateNodes(_ testCase: PoolCase) throws {
        var random = SeededRandom(seed: 11)
        let spatial = testCase.input.count - 2
        let x = random.tensor(testCase.input)
        let w = random.tensor([testCase.maps, testCase.input[1]] + [Int](repeating: 3, count: spatial))
        let b = random.tensor([testCase.maps])
        var graph = ONNXGraphBuilder(opset: 20)
        graph.input("x", .float32, testCase.input.map { _ in nil })
        graph.initializer("w", w)
        graph.initializer("b", b)
        graph.node("Conv", ["x", "w", "b"], ["h"], ["pads": [Int](repeating: 1, count: 2 * spatial)])
        graph.node(testCase.activation, ["h"], ["r"])
        graph.node("MaxPool", ["r"], ["y"], testCase.pool)
        graph.output("y", .float32, nil)
        let model = try Model(onnx: graph.serialized())
        #expect(model.operatorCounts == ["Conv+\(testCase.activation)+MaxPool": 1])
        let session = model.makeSession()
        try session.setInput(0, x)
        let y = try session.run()[0]

        // The reference is 2-D: a 1-D case is a height-1 image without vertical padding.
        let planar = spatial == 2
        let conv4D = Reference.conv(
            planar ? x : x.reshaped4D(), planar ? w : w.reshaped4D(), b, group: 1, stride: [1, 1], dilation: [1, 1],
            pads: planar ? [1, 1, 1, 1] : [0, 1, 0, 1], autoPad: "NOTSET")
        let conv = planar ? conv4D : conv4D.reshaped(Array(conv4D.shape[0..<2]) + [conv4D.shape[3]])
        let activated = try runNode(testCase.activation, [conv], opset: 20)[0]
        let expected = try runNode("MaxPool", [activated], attributes: testCase.pool)[0]
        #expect(y.shape == expected.shape)
        #expect(Tolerance.mismatch(y, expected, rtol: 1e-5, atol: 1e-5) == nil)
    }

    /// The small-depth path alone (no pooling) against the direct definition: strides, dilations, padding,
    /// no bias, maps in one and two groups of 32.
    @Test(arguments: [8, 32, 48])
    func smallDepthConvolutionMatchesDirectConvolution(_ maps: Int) throws {
        var random = SeededRandom(seed: UInt64(maps))
        let x = random.tensor([2, 3, 9, 10]), w = random.tensor([maps, 3, 3, 2])
        let attributes: [String: Any] = ["strides": [2, 1], "dilations": [1, 2], "pads": [1, 0, 2, 1]]
        let y = try runNode("Conv", [x, w], attributes: attributes, constantInputs: [1])[0]
        let expected = Reference.conv(
            x, w, nil, group: 1, stride: [2, 1], dilation: [1, 2], pads: [1, 0, 2, 1], autoPad: "NOTSET")
        #expect(Tolerance.mismatch(y, expected, rtol: 1e-5, atol: 1e-5) == nil)
    }

    /// A Conv whose output has another reader, or a MaxPool that also returns indices, stays separate.
    @Test func convAndMaxPoolStaySeparateWhenTheyCannotFuse() throws {
        var random = SeededRandom(seed: 5)
        var shared = ONNXGraphBuilder(opset: 17)
        shared.input("x", .float32, [nil, 1, 6, 6])
        shared.initializer("w", random.tensor([2, 1, 3, 3]))
        shared.node("Conv", ["x", "w"], ["h"])
        shared.node("MaxPool", ["h"], ["y"], ["kernel_shape": [2, 2]])
        shared.node("Neg", ["h"], ["z"])
        shared.output("y", .float32, nil)
        shared.output("z", .float32, nil)
        #expect(try Model(onnx: shared.serialized()).operatorCounts == ["Conv": 1, "MaxPool": 1, "Neg": 1])

        var indexed = ONNXGraphBuilder(opset: 17)
        indexed.input("x", .float32, [nil, 1, 6, 6])
        indexed.initializer("w", random.tensor([2, 1, 3, 3]))
        indexed.node("Conv", ["x", "w"], ["h"])
        indexed.node("MaxPool", ["h"], ["y", "i"], ["kernel_shape": [2, 2]])
        indexed.output("y", .float32, nil)
        indexed.output("i", .int64, nil)
        #expect(try Model(onnx: indexed.serialized()).operatorCounts == ["Conv": 1, "MaxPool": 1])
    }

    @Test func convRejectsInputsThatDoNotFit() throws {
        let x = floats([Float](repeating: 1, count: 2 * 9), [1, 2, 3, 3])
        // Weight channels do not match the input's.
        #expect(throws: InferenceError.self) { try runNode("Conv", [x, floats([1, 1, 1, 1], [1, 1, 2, 2])]) }
        // Kernel bigger than the (unpadded) input.
        #expect(throws: InferenceError.self) {
            try runNode("Conv", [x, floats([Float](repeating: 1, count: 2 * 16), [1, 2, 4, 4])])
        }
        // A 3-D input with a 2-D weight, only found at run time.
        let volume = floats([Float](repeating: 1, count: 8), [1, 1, 2, 2, 2])
        #expect(throws: InferenceError.self) { try runNode("Conv", [volume, floats([1, 1, 1, 1], [1, 1, 2, 2])]) }
        // Bias of the wrong length; group that does not divide the channels.
        let w = floats([Float](repeating: 1, count: 8), [1, 2, 2, 2])
        #expect(throws: InferenceError.self) { try runNode("Conv", [x, w, floats([1, 2], [2])]) }
        #expect(throws: InferenceError.self) { try runNode("Conv", [x, w], attributes: ["group": 3]) }
    }

    @Test func convOnAnEmptyBatchGivesAnEmptyOutput() throws {
        let y = try runNode("Conv", [floats([], [0, 1, 3, 3]), floats([1, 1, 1, 1], [1, 1, 2, 2])])[0]
        #expect(y.shape == [0, 1, 2, 2])
    }

    // MARK: Pooling

    @Test func maxPoolWithPadsStrideAndIndicesByHand() throws {
        // 4×4 input 0…15, 3×3 window, stride 2, pads 1: windows centred on (0,0), (0,2), (2,0), (2,2).
        let x = floats((0..<16).map(Float.init), [1, 1, 4, 4])
        let outputs = try runNode("MaxPool", [x], attributes: ["kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1]], outputs: 2)
        #expect(outputs[0].array(of: Float.self) == [5, 7, 13, 15])
        #expect(outputs[1].elementType == .int64)
        #expect(outputs[1].array(of: Int64.self) == [5, 7, 13, 15])
        // Column-major indices: h + w · H.
        let columnMajor = try runNode(
            "MaxPool", [x], attributes: ["kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1], "storage_order": 1],
            outputs: 2)
        #expect(columnMajor[1].array(of: Int64.self) == [5, 13, 7, 15])
    }

    @Test func maxPoolCeilModeAddsAPartialWindow() throws {
        let x = floats((0..<25).map(Float.init), [1, 1, 5, 5])
        let floor = try runNode("MaxPool", [x], attributes: ["kernel_shape": [2, 2], "strides": [2, 2]])[0]
        #expect(floor.shape == [1, 1, 2, 2])
        #expect(floor.array(of: Float.self) == [6, 8, 16, 18])
        let ceil = try runNode("MaxPool", [x], attributes: ["kernel_shape": [2, 2], "strides": [2, 2], "ceil_mode": 1])[0]
        #expect(ceil.shape == [1, 1, 3, 3])
        #expect(ceil.array(of: Float.self) == [6, 8, 9, 16, 18, 19, 21, 23, 24])
    }

    @Test func averagePoolCountIncludePadByHand() throws {
        // 3×3 of ones, 3×3 window, pads 1, stride 2 → corners see 4 real values of 9 window taps.
        let x = floats([Float](repeating: 1, count: 9), [1, 1, 3, 3])
        let attributes: [String: Any] = ["kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1]]
        let excluded = try runNode("AveragePool", [x], attributes: attributes)[0]
        #expect(excluded.array(of: Float.self) == [1, 1, 1, 1])
        var including = attributes
        including["count_include_pad"] = 1
        let included = try runNode("AveragePool", [x], attributes: including)[0]
        #expect(included.array(of: Float.self) == [Float](repeating: 4.0 / 9.0, count: 4))
    }

    @Test func poolSweepMatchesDirectPooling() throws {
        var random = SeededRandom(seed: 5)
        // (size, kernel, stride, dilation, pads, ceil, autoPad)
        let configurations: [([Int], [Int], [Int], [Int], [Int], Int, String)] = [
            ([7, 6], [3, 3], [2, 2], [1, 1], [1, 1, 1, 1], 0, "NOTSET"),
            ([7, 6], [3, 2], [2, 3], [1, 1], [1, 0, 2, 1], 1, "NOTSET"),
            ([8, 8], [2, 3], [1, 2], [2, 2], [0, 1, 1, 0], 1, "NOTSET"),
            ([5, 9], [3, 3], [3, 3], [1, 1], [], 0, "SAME_UPPER"),
            ([5, 9], [2, 4], [2, 1], [1, 1], [], 0, "SAME_LOWER"),
            ([6, 5], [2, 2], [2, 2], [1, 1], [], 0, "VALID"),
        ]
        for (size, kernel, stride, dilation, pads, ceil, autoPad) in configurations {
            let x = random.tensor([2, 3] + size)
            var attributes: [String: Any] = [
                "kernel_shape": kernel, "strides": stride, "dilations": dilation, "ceil_mode": ceil, "auto_pad": autoPad,
            ]
            if !pads.isEmpty { attributes["pads"] = pads }
            let maximum = try runNode("MaxPool", [x], opset: 19, attributes: attributes)[0]
            let expectedMaximum = Reference.pool(x, kernel: kernel, stride: stride, dilation: dilation, pads: pads,
                                                 ceil: ceil != 0, autoPad: autoPad, average: false, includePad: false)
            #expect(Tolerance.mismatch(maximum, expectedMaximum) == nil, "MaxPool \(attributes)")
            for includePad in [0, 1] {
                attributes["count_include_pad"] = includePad
                let average = try runNode("AveragePool", [x], opset: 19, attributes: attributes)[0]
                let expected = Reference.pool(x, kernel: kernel, stride: stride, dilation: dilation, pads: pads,
                                              ceil: ceil != 0, autoPad: autoPad, average: true, includePad: includePad != 0)
                #expect(Tolerance.mismatch(average, expected) == nil, "AveragePool \(attributes): \(Tolerance.mismatch(average, expected) ?? "")")
            }
            attributes["count_include_pad"] = nil
        }
    }

    @Test func averagePoolBeforeOpset19RefusesDilations() throws {
        var graph = ONNXGraphBuilder(opset: 17)
        graph.input("x", .float32, nil)
        graph.node("AveragePool", ["x"], ["y"], ["kernel_shape": [2, 2], "dilations": [2, 2]])
        graph.output("y", .float32, nil)
        #expect(throws: InferenceError.unsupported(["AveragePool attribute 'dilations'"])) {
            try Model(onnx: graph.serialized())
        }
    }

    @Test func globalAveragePoolAveragesEachPlane() throws {
        let x = floats([1, 2, 3, 4, 10, 20, 30, 40], [1, 2, 2, 2])
        let y = try runNode("GlobalAveragePool", [x])[0]
        #expect(y.shape == [1, 2, 1, 1])
        #expect(y.array(of: Float.self) == [2.5, 25])
    }

    @Test func poolRejectsAWindowLargerThanTheInput() throws {
        let x = floats([1, 2, 3, 4], [1, 1, 2, 2])
        #expect(throws: InferenceError.self) { try runNode("MaxPool", [x], attributes: ["kernel_shape": [3, 3]]) }
        #expect(throws: InferenceError.self) { try runNode("AveragePool", [x], attributes: ["kernel_shape": [2, 2, 2]]) }
    }

    // MARK: BatchNormalization and Dropout

    @Test func batchNormalizationByHand() throws {
        // Channel 0: scale 2, bias 1, mean 1, var 3 (ε 1 → √4 = 2): y = (x − 1) + 1 = x. Channel 1: identity stats.
        let x = floats([1, 2, 3, 4], [1, 2, 2, 1])
        let y = try runNode("BatchNormalization", [
            x, floats([2, 1], [2]), floats([1, 0], [2]), floats([1, 0], [2]), floats([3, 0], [2]),
        ], attributes: ["epsilon": Float(1)])[0]
        #expect(y.array(of: Float.self) == [1, 2, 3, 4])
        let refused = ["training_mode": 1]
        #expect(throws: InferenceError.unsupported(["BatchNormalization training_mode 1"])) {
            try runNode("BatchNormalization", [x, x, x, x, x], attributes: refused)
        }
    }

    @Test func dropoutIsTheIdentityWithAnAllTrueMask() throws {
        let x = floats([1, -2, 3], [3])
        let outputs = try runNode("Dropout", [x, floats([0.5], [])], outputs: 2)
        #expect(outputs[0].array(of: Float.self) == [1, -2, 3])
        #expect(outputs[1].elementType == .bool)
        #expect(outputs[1].array(of: UInt8.self) == [1, 1, 1])
        let training = [UInt8(1)].withUnsafeBytes { Tensor(elementType: .bool, shape: [], copying: $0) }
        #expect(throws: InferenceError.self) { try runNode("Dropout", [x, floats([0.5], []), training]) }
    }

    // MARK: GRU and LSTM

    @Test func recurrentSweepMatchesDirectRecurrence() throws {
        var random = SeededRandom(seed: 13)
        let (seq, batch, input, hidden) = (4, 3, 3, 5)
        for op in ["GRU", "LSTM"] {
            let gates = op == "GRU" ? 3 : 4
            for direction in ["forward", "reverse", "bidirectional"] {
                for variant in 0..<4 {
                    let dirs = direction == "bidirectional" ? 2 : 1
                    let batchMajor = variant == 3
                    let x = random.tensor(batchMajor ? [batch, seq, input] : [seq, batch, input])
                    let w = random.tensor([dirs, gates * hidden, input])
                    let r = random.tensor([dirs, gates * hidden, hidden])
                    let b = random.tensor([dirs, 2 * gates * hidden])
                    let stateShape = batchMajor ? [batch, dirs, hidden] : [dirs, batch, hidden]
                    let h0 = random.tensor(stateShape), c0 = random.tensor(stateShape)
                    let p = random.tensor([dirs, 3 * hidden])
                    // variant 0: no optional inputs; 1: everything, uniform lengths; 2: ragged lengths; 3: layout 1.
                    let lengths: [Int32] = variant == 2 ? [4, 1, 3] : [4, 4, 4]
                    let lens = lengths.withUnsafeBytes { Tensor(elementType: .int32, shape: [batch], copying: $0) }
                    var inputs = [x, w, r]
                    if variant > 0 {
                        inputs += [b, lens, h0]
                        if op == "LSTM" { inputs += [c0, p] }
                    }
                    var attributes: [String: Any] = ["hidden_size": hidden, "direction": direction]
                    if batchMajor { attributes["layout"] = 1 }
                    for linearBeforeReset in op == "GRU" ? [0, 1] : [0] {
                        if op == "GRU" { attributes["linear_before_reset"] = linearBeforeReset }
                        let outputs = try runNode(op, inputs, attributes: attributes, outputs: op == "GRU" ? 2 : 3)
                        let expected = Reference.recurrent(
                            op, x: x, w: w, r: r, b: variant > 0 ? b : nil, lengths: variant > 0 ? lengths.map(Int.init) : nil,
                            h0: variant > 0 ? h0 : nil, c0: variant > 0 ? c0 : nil, p: variant > 0 ? p : nil,
                            hidden: hidden, direction: direction, batchMajor: batchMajor, linearBeforeReset: linearBeforeReset != 0)
                        for (actual, wanted) in zip(outputs, expected) {
                            let mismatch = Tolerance.mismatch(actual, wanted)
                            #expect(mismatch == nil, "\(op) \(attributes) variant \(variant): \(mismatch ?? "")")
                        }
                    }
                }
            }
        }
    }

    @Test func recurrentRefusesCustomActivationsAndClip() throws {
        func load(_ op: String, _ attributes: [String: Any]) throws {
            var graph = ONNXGraphBuilder(opset: 17)
            for name in ["x", "w", "r"] { graph.input(name, .float32, nil) }
            graph.node(op, ["x", "w", "r"], ["y"], attributes.filter { !($0.value is [String]) })
            graph.output("y", .float32, nil)
            // The builder has no STRINGS attributes; add them to the proto.
            var proto = try Onnx_ModelProto(serializedBytes: try graph.serialized())
            for (name, value) in attributes {
                guard let strings = value as? [String] else { continue }
                proto.graph.node[0].attribute.append(.with {
                    $0.name = name
                    $0.type = .strings
                    $0.strings = strings.map { Data($0.utf8) }
                })
            }
            _ = try Model(onnx: try proto.serializedData())
        }
        #expect(throws: InferenceError.unsupported(["LSTM attribute 'clip'"])) {
            try load("LSTM", ["hidden_size": 2, "clip": Float(1)])
        }
        #expect(throws: InferenceError.unsupported(["GRU activations [\"Relu\", \"Tanh\"] (only the defaults [\"Sigmoid\", \"Tanh\"])"])) {
            try load("GRU", ["hidden_size": 2, "activations": ["Relu", "Tanh"]])
        }
        #expect(throws: InferenceError.unsupported(["LSTM input_forget 1"])) {
            try load("LSTM", ["hidden_size": 2, "input_forget": 1])
        }
        // The defaults spelled out are fine.
        try load("LSTM", ["hidden_size": 2, "activations": ["Sigmoid", "Tanh", "Tanh"]])
    }

    @Test func recurrentRejectsBadShapesAndLengths() throws {
        var random = SeededRandom(seed: 1)
        let x = random.tensor([2, 1, 3]), w = random.tensor([1, 6, 3]), r = random.tensor([1, 6, 2])
        #expect(throws: InferenceError.self) { try runNode("GRU", [x, w, r], attributes: ["hidden_size": 3]) }
        let tooLong = [Int32(5)].withUnsafeBytes { Tensor(elementType: .int32, shape: [1], copying: $0) }
        #expect(throws: InferenceError.self) {
            try runNode("GRU", [x, w, r, random.tensor([1, 12]), tooLong], attributes: ["hidden_size": 2])
        }
    }
}

// MARK: - Test support

/// A small deterministic generator for test tensors.
struct SeededRandom {
    var state: UInt64

    init(seed: UInt64) { state = seed &* 0x9E37_79B9_7F4A_7C15 | 1 }

    mutating func next() -> Float {
        state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        return Float(Int(state >> 40) % 2001 - 1000) / 1000
    }

    mutating func tensor(_ shape: [Int]) -> Tensor {
        floats((0..<shape.reduce(1, *)).map { _ in next() }, shape)
    }
}

extension Tensor {
    /// [N, C, W] viewed as [N, C, 1, W].
    func reshaped4D() -> Tensor { reshaped([shape[0], shape[1], 1, shape[2]]) }
}

/// Direct, loop-by-loop implementations of the operators, following the ONNX operator specs.
enum Reference {
    /// Output length and leading pad of one axis.
    static func axis(_ input: Int, kernel: Int, stride: Int, dilation: Int, begin: Int, end: Int, ceil: Bool, autoPad: String) -> (Int, Int) {
        let extent = (kernel - 1) * dilation + 1
        switch autoPad {
        case "SAME_UPPER", "SAME_LOWER":
            let output = (input + stride - 1) / stride
            let total = max(0, (output - 1) * stride + extent - input)
            return (output, autoPad == "SAME_UPPER" ? total / 2 : total - total / 2)
        case "VALID":
            return ((input - extent) / stride + 1, 0)
        default:
            let span = Double(input + begin + end - extent) / Double(stride)
            var output = Int(ceil ? span.rounded(.up) : span.rounded(.down)) + 1
            if ceil && (output - 1) * stride >= input + begin { output -= 1 }
            return (output, begin)
        }
    }

    static func conv(
        _ x: Tensor, _ w: Tensor, _ b: Tensor?, group: Int, stride: [Int], dilation: [Int], pads: [Int], autoPad: String
    ) -> Tensor {
        let (n, c, h, wd) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let (m, cg, kh, kw) = (w.shape[0], w.shape[1], w.shape[2], w.shape[3])
        let p = pads.isEmpty ? [0, 0, 0, 0] : pads
        let (oh, top) = axis(h, kernel: kh, stride: stride[0], dilation: dilation[0], begin: p[0], end: p[2], ceil: false, autoPad: autoPad)
        let (ow, left) = axis(wd, kernel: kw, stride: stride[1], dilation: dilation[1], begin: p[1], end: p[3], ceil: false, autoPad: autoPad)
        let xs = x.array(of: Float.self), ws = w.array(of: Float.self), bs = b?.array(of: Float.self)
        var out = [Float](repeating: 0, count: n * m * oh * ow)
        let mg = m / group
        for i in 0..<n { for o in 0..<m { for y in 0..<oh { for z in 0..<ow {
            var sum: Float = bs?[o] ?? 0
            let g = o / mg
            for ci in 0..<cg { for a in 0..<kh { for e in 0..<kw {
                let r = y * stride[0] - top + a * dilation[0], s = z * stride[1] - left + e * dilation[1]
                guard r >= 0, r < h, s >= 0, s < wd else { continue }
                sum += xs[((i * c + g * cg + ci) * h + r) * wd + s] * ws[((o * cg + ci) * kh + a) * kw + e]
            } } }
            out[((i * m + o) * oh + y) * ow + z] = sum
        } } } }
        return floats(out, [n, m, oh, ow])
    }

    static func pool(
        _ x: Tensor, kernel: [Int], stride: [Int], dilation: [Int], pads: [Int], ceil: Bool, autoPad: String,
        average: Bool, includePad: Bool
    ) -> Tensor {
        let (n, c, h, wd) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let p = pads.isEmpty ? [0, 0, 0, 0] : pads
        let (oh, top) = axis(h, kernel: kernel[0], stride: stride[0], dilation: dilation[0], begin: p[0], end: p[2], ceil: ceil, autoPad: autoPad)
        let (ow, left) = axis(wd, kernel: kernel[1], stride: stride[1], dilation: dilation[1], begin: p[1], end: p[3], ceil: ceil, autoPad: autoPad)
        // The padded extent a tap may reach and still count with count_include_pad.
        let (bottomLimit, rightLimit): (Int, Int) = {
            if autoPad.hasPrefix("SAME") {
                let extentH = (kernel[0] - 1) * dilation[0] + 1, extentW = (kernel[1] - 1) * dilation[1] + 1
                return (max(h, (oh - 1) * stride[0] + extentH - top), max(wd, (ow - 1) * stride[1] + extentW - left))
            }
            return autoPad == "VALID" ? (h, wd) : (h + p[2], wd + p[3])
        }()
        let xs = x.array(of: Float.self)
        var out = [Float](repeating: 0, count: n * c * oh * ow)
        for plane in 0..<(n * c) { for y in 0..<oh { for z in 0..<ow {
            var values: [Float] = []
            var padded = 0
            for a in 0..<kernel[0] { for e in 0..<kernel[1] {
                let r = y * stride[0] - top + a * dilation[0], s = z * stride[1] - left + e * dilation[1]
                if r < bottomLimit && s < rightLimit { padded += 1 }
                guard r >= 0, r < h, s >= 0, s < wd else { continue }
                values.append(xs[(plane * h + r) * wd + s])
            } }
            out[(plane * oh + y) * ow + z] = average
                ? values.reduce(0, +) / Float(includePad ? padded : values.count)
                : values.max()!
        } } }
        return floats(out, [n, c, oh, ow])
    }

    static func recurrent(
        _ op: String, x: Tensor, w: Tensor, r: Tensor, b: Tensor?, lengths: [Int]?, h0: Tensor?, c0: Tensor?, p: Tensor?,
        hidden: Int, direction: String, batchMajor: Bool, linearBeforeReset: Bool
    ) -> [Tensor] {
        func sigmoid(_ v: Float) -> Float { 1 / (1 + exp(-v)) }
        let seq = batchMajor ? x.shape[1] : x.shape[0], batch = batchMajor ? x.shape[0] : x.shape[1], input = x.shape[2]
        let dirs = direction == "bidirectional" ? 2 : 1
        let gates = op == "GRU" ? 3 : 4
        let xs = x.array(of: Float.self), ws = w.array(of: Float.self), rs = r.array(of: Float.self)
        let bs = b?.array(of: Float.self) ?? [Float](repeating: 0, count: dirs * 2 * gates * hidden)
        let ps = p?.array(of: Float.self) ?? [Float](repeating: 0, count: dirs * 3 * hidden)
        func xAt(_ t: Int, _ n: Int, _ k: Int) -> Float { xs[(batchMajor ? n * seq + t : t * batch + n) * input + k] }
        func stateIndex(_ d: Int, _ n: Int, _ j: Int) -> Int { (batchMajor ? n * dirs + d : d * batch + n) * hidden + j }
        func yIndex(_ t: Int, _ d: Int, _ n: Int, _ j: Int) -> Int {
            (batchMajor ? (n * seq + t) * dirs + d : (t * dirs + d) * batch + n) * hidden + j
        }
        var y = [Float](repeating: 0, count: seq * dirs * batch * hidden)
        var yh = [Float](repeating: 0, count: dirs * batch * hidden), yc = yh
        for d in 0..<dirs {
            let reverse = direction == "reverse" || d == 1
            for n in 0..<batch {
                let length = lengths?[n] ?? seq
                var hState = (0..<hidden).map { h0?.array(of: Float.self)[stateIndex(d, n, $0)] ?? 0 }
                var cState = (0..<hidden).map { c0?.array(of: Float.self)[stateIndex(d, n, $0)] ?? 0 }
                let steps = reverse ? Array((0..<length).reversed()) : Array(0..<length)
                for t in steps {
                    // pre[g][j] = x·W + Wb (input part), rec[g][j] = h·R + Rb (recurrent part).
                    func pre(_ g: Int, _ j: Int) -> Float {
                        let row = (d * gates + g) * hidden + j
                        return (0..<input).reduce(bs[d * 2 * gates * hidden + g * hidden + j]) { $0 + xAt(t, n, $1) * ws[row * input + $1] }
                    }
                    func rec(_ g: Int, _ j: Int, _ state: [Float]) -> Float {
                        let row = (d * gates + g) * hidden + j
                        return (0..<hidden).reduce(bs[d * 2 * gates * hidden + (gates + g) * hidden + j]) { $0 + state[$1] * rs[row * hidden + $1] }
                    }
                    var next = hState
                    if op == "GRU" {
                        let z = (0..<hidden).map { sigmoid(pre(0, $0) + rec(0, $0, hState)) }
                        let rg = (0..<hidden).map { sigmoid(pre(1, $0) + rec(1, $0, hState)) }
                        for j in 0..<hidden {
                            let candidate: Float
                            if linearBeforeReset {
                                candidate = tanh(pre(2, j) + rg[j] * rec(2, j, hState))
                            } else {
                                candidate = tanh(pre(2, j) + rec(2, j, zip(rg, hState).map(*)))
                            }
                            next[j] = (1 - z[j]) * candidate + z[j] * hState[j]
                        }
                    } else {
                        var nextC = cState
                        for j in 0..<hidden {
                            let pi = ps[d * 3 * hidden + j], po = ps[d * 3 * hidden + hidden + j], pf = ps[d * 3 * hidden + 2 * hidden + j]
                            let i = sigmoid(pre(0, j) + rec(0, j, hState) + pi * cState[j])
                            let f = sigmoid(pre(2, j) + rec(2, j, hState) + pf * cState[j])
                            let cell = f * cState[j] + i * tanh(pre(3, j) + rec(3, j, hState))
                            let o = sigmoid(pre(1, j) + rec(1, j, hState) + po * cell)
                            nextC[j] = cell
                            next[j] = o * tanh(cell)
                        }
                        cState = nextC
                    }
                    hState = next
                    for j in 0..<hidden { y[yIndex(t, d, n, j)] = hState[j] }
                }
                for j in 0..<hidden {
                    yh[stateIndex(d, n, j)] = hState[j]
                    yc[stateIndex(d, n, j)] = cState[j]
                }
            }
        }
        let yShape = batchMajor ? [batch, seq, dirs, hidden] : [seq, dirs, batch, hidden]
        let stateShape = batchMajor ? [batch, dirs, hidden] : [dirs, batch, hidden]
        return [floats(y, yShape), floats(yh, stateShape)] + (op == "LSTM" ? [floats(yc, stateShape)] : [])
    }
}
