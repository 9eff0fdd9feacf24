import Foundation
import Inference
import Testing
import ZServeTesting

/// Conv and the pooling operators over three and four spatial axes, against direct N-D loops following the ONNX
/// specs. ONNX's node tests cover plain 3-D cases; these add groups and depthwise weights, 1×1×1 kernels, SAME
/// padding, four spatial axes, MaxPool's indices in both storage orders, LpPool, and Conv + MaxPool fused in 3-D.
@Suite struct SpatialWindowNDTests {
    /// (channels, maps, group, size, kernel, stride, dilation, pads, autoPad)
    static let convCases: [(Int, Int, Int, [Int], [Int], [Int], [Int], [Int], String)] = [
        (2, 3, 1, [4, 5, 6], [3, 2, 3], [1, 1, 1], [1, 1, 1], [1, 0, 1, 1, 1, 0], "NOTSET"),
        (4, 6, 2, [5, 4, 6], [2, 3, 2], [2, 1, 2], [2, 1, 1], [0, 1, 1, 1, 0, 2], "NOTSET"),
        (3, 6, 3, [4, 4, 5], [3, 3, 3], [1, 2, 1], [1, 1, 2], [1, 1, 1, 1, 1, 1], "NOTSET"),  // depthwise
        (3, 4, 1, [3, 4, 5], [1, 1, 1], [1, 1, 1], [1, 1, 1], [0, 0, 0, 0, 0, 0], "NOTSET"),  // 1×1×1: no im2col
        (2, 2, 1, [5, 3, 4], [2, 2, 3], [2, 2, 1], [1, 1, 1], [], "SAME_UPPER"),
        (2, 3, 1, [5, 6, 3], [3, 2, 2], [2, 3, 1], [1, 2, 1], [], "SAME_LOWER"),
        (2, 2, 2, [3, 4, 3, 4], [2, 2, 1, 3], [1, 2, 1, 1], [1, 1, 1, 1], [0, 1, 0, 1, 1, 0, 0, 1], "NOTSET"),
    ]

    @Test func convOverThreeAndFourSpatialAxesMatchesDirectConvolution() throws {
        var random = SeededRandom(seed: 17)
        for (channels, maps, group, size, kernel, stride, dilation, pads, autoPad) in Self.convCases {
            let x = random.tensor([2, channels] + size)
            let w = random.tensor([maps, channels / group] + kernel)
            let b = random.tensor([maps])
            var attributes: [String: Any] = ["group": group, "strides": stride, "dilations": dilation, "auto_pad": autoPad]
            if !pads.isEmpty { attributes["pads"] = pads }
            let y = try runNode("Conv", [x, w, b], attributes: attributes, constantInputs: [1, 2])[0]
            let expected = ReferenceND.conv(x, w, b, group: group, stride: stride, dilation: dilation, pads: pads, autoPad: autoPad)
            #expect(y.shape == expected.shape)
            #expect(Tolerance.mismatch(y, expected) == nil, "Conv \(attributes): \(Tolerance.mismatch(y, expected) ?? "")")
        }
    }

    /// (size, kernel, stride, dilation, pads, ceil)
    static let poolCases: [([Int], [Int], [Int], [Int], [Int], Int)] = [
        ([4, 5, 6], [2, 2, 2], [2, 2, 2], [1, 1, 1], [0, 0, 0, 0, 0, 0], 0),
        ([5, 5, 4], [3, 2, 2], [2, 1, 2], [1, 2, 1], [1, 0, 1, 1, 1, 0], 1),
        ([6, 4, 5], [2, 3, 2], [3, 1, 2], [2, 1, 1], [0, 1, 0, 1, 1, 1], 1),
        ([3, 4, 3, 4], [2, 2, 2, 3], [1, 2, 1, 1], [1, 1, 1, 1], [0, 1, 0, 0, 1, 0, 1, 1], 0),
    ]

    @Test func poolingOverThreeAndFourSpatialAxesMatchesDirectPooling() throws {
        var random = SeededRandom(seed: 23)
        for (size, kernel, stride, dilation, pads, ceil) in Self.poolCases {
            let x = random.tensor([2, 3] + size)
            var attributes: [String: Any] = [
                "kernel_shape": kernel, "strides": stride, "dilations": dilation, "pads": pads, "ceil_mode": ceil,
            ]
            let window = ReferenceND.Window(
                input: size, kernel: kernel, stride: stride, dilation: dilation, pads: pads, ceil: ceil != 0, autoPad: "NOTSET")
            for storageOrder in [0, 1] {
                attributes["storage_order"] = storageOrder
                let maximum = try runNode("MaxPool", [x], opset: 19, attributes: attributes, outputs: 2)
                let (values, indices) = ReferenceND.maxPool(x, window, columnMajor: storageOrder == 1)
                #expect(Tolerance.mismatch(maximum[0], values) == nil, "MaxPool \(attributes)")
                #expect(maximum[1].array(of: Int64.self) == indices, "MaxPool indices \(attributes)")
            }
            attributes["storage_order"] = nil
            for includePad in [0, 1] {
                attributes["count_include_pad"] = includePad
                let average = try runNode("AveragePool", [x], opset: 19, attributes: attributes)[0]
                let expected = ReferenceND.averagePool(x, window, includePad: includePad != 0)
                #expect(Tolerance.mismatch(average, expected) == nil, "AveragePool \(attributes)")
            }
            attributes["count_include_pad"] = nil
            attributes["p"] = 3
            let lp = try runNode("LpPool", [x], opset: 19, attributes: attributes)[0]
            #expect(Tolerance.mismatch(lp, ReferenceND.lpPool(x, window, p: 3)) == nil, "LpPool \(attributes)")
        }
    }

    /// A 3-D Conv + Relu + MaxPool loads as one node (the pooling through the N-D window grid on the image's maps in
    /// scratch) and gives what the nodes give one at a time.
    @Test func convReluMaxPoolFuseInThreeDimensions() throws {
        var random = SeededRandom(seed: 29)
        let x = random.tensor([2, 2, 6, 7, 5]), w = random.tensor([4, 2, 3, 3, 3]), b = random.tensor([4])
        let pool: [String: Any] = ["kernel_shape": [2, 2, 2], "strides": [2, 2, 1], "pads": [0, 1, 0, 1, 0, 1]]
        var graph = ONNXGraphBuilder(opset: 20)
        graph.input("x", .float32, [nil, 2, nil, nil, nil])
        graph.initializer("w", w)
        graph.initializer("b", b)
        graph.node("Conv", ["x", "w", "b"], ["h"], ["pads": [1, 1, 1, 1, 1, 1]])
        graph.node("Relu", ["h"], ["r"])
        graph.node("MaxPool", ["r"], ["y"], pool)
        graph.output("y", .float32, nil)
        let model = try Model(onnx: graph.serialized())
        #expect(model.operatorCounts == ["Conv+Relu+MaxPool": 1])
        let session = model.makeSession()
        try session.setInput(0, x)
        let y = try session.run()[0]

        let conv = ReferenceND.conv(
            x, w, b, group: 1, stride: [1, 1, 1], dilation: [1, 1, 1], pads: [1, 1, 1, 1, 1, 1], autoPad: "NOTSET")
        let activated = floats(conv.array(of: Float.self).map { max($0, 0) }, conv.shape)
        let expected = try runNode("MaxPool", [activated], attributes: pool)[0]
        #expect(y.shape == expected.shape)
        #expect(Tolerance.mismatch(y, expected) == nil)
    }

    @Test func maxPool3DIndicesByHand() throws {
        // 2×2×2 input 0…7 (d, h, w), one 2×2×2 window: the largest is the last element, (1, 1, 1) in either order;
        // with a window of 1×2×1 at stride 1×1×2 the maxima are at (d, 1, 0): row-major 2, 6; column-major (d + 2h + 4w) 2, 3.
        let x = floats((0..<8).map(Float.init), [1, 1, 2, 2, 2])
        let whole = try runNode("MaxPool", [x], attributes: ["kernel_shape": [2, 2, 2]], outputs: 2)
        #expect(whole[0].array(of: Float.self) == [7])
        #expect(whole[1].array(of: Int64.self) == [7])
        for (order, expected) in [(0, [Int64(2), 6]), (1, [2, 3])] {
            let column = try runNode(
                "MaxPool", [x], attributes: ["kernel_shape": [1, 2, 1], "strides": [1, 1, 2], "storage_order": order],
                outputs: 2)
            #expect(column[0].shape == [1, 1, 2, 1, 1])
            #expect(column[0].array(of: Float.self) == [2, 6])
            #expect(column[1].array(of: Int64.self) == expected, "storage_order \(order)")
        }
    }

    @Test func windowAttributesMustAgreeWithTheInput() throws {
        let x = floats([Float](repeating: 1, count: 16), [1, 1, 2, 2, 4])
        // kernel_shape has two axes, the input three.
        let error = #expect(throws: InferenceError.self) {
            try runNode("MaxPool", [x], attributes: ["kernel_shape": [2, 2]])
        }
        #expect("\(error.map { $0 } as Any)".contains("the window attributes have 2 spatial axes, the input 3"))
        // A 3-D weight for a 2-D input.
        #expect(throws: InferenceError.self) {
            try runNode("Conv", [floats([1, 2, 3, 4], [1, 1, 2, 2]), floats([1], [1, 1, 1, 1, 1])])
        }
        // A window larger than the input along the depth.
        #expect(throws: InferenceError.self) {
            try runNode("AveragePool", [x], attributes: ["kernel_shape": [3, 1, 1]])
        }
    }
}

/// Direct N-D loops over sliding windows, following the ONNX operator specs.
enum ReferenceND {
    /// Every output position's taps over one plane: the row-major input offset of each tap inside the input, and
    /// how many taps lie inside the input plus its explicit padding.
    struct Window {
        let outputShape: [Int]
        let taps: [[Int?]]
        let padded: [Int]

        init(input: [Int], kernel: [Int], stride: [Int], dilation: [Int], pads: [Int], ceil: Bool, autoPad: String) {
            let rank = input.count
            let p = pads.isEmpty ? [Int](repeating: 0, count: 2 * rank) : pads
            var outputs: [Int] = [], begins: [Int] = []
            for d in 0..<rank {
                let (output, begin) = Reference.axis(
                    input[d], kernel: kernel[d], stride: stride[d], dilation: dilation[d], begin: p[d], end: p[rank + d],
                    ceil: ceil, autoPad: autoPad)
                outputs.append(output)
                begins.append(begin)
            }
            outputShape = outputs
            var taps: [[Int?]] = [], padded: [Int] = []
            for position in Self.positions(outputs) {
                var window: [Int?] = [], inside = 0
                for tap in Self.positions(kernel) {
                    var offset = 0, valid = true, withinPads = true
                    for d in 0..<rank {
                        let at = position[d] * stride[d] - begins[d] + tap[d] * dilation[d]
                        valid = valid && at >= 0 && at < input[d]
                        withinPads = withinPads && at < input[d] + p[rank + d]
                        offset = offset * input[d] + at
                    }
                    window.append(valid ? offset : nil)
                    if withinPads { inside += 1 }
                }
                taps.append(window)
                padded.append(inside)
            }
            self.taps = taps
            self.padded = padded
        }

        /// Every index of `shape`, row-major.
        static func positions(_ shape: [Int]) -> [[Int]] {
            var result: [[Int]] = [[]]
            for size in shape { result = result.flatMap { prefix in (0..<size).map { prefix + [$0] } } }
            return result
        }
    }

    static func conv(
        _ x: Tensor, _ w: Tensor, _ b: Tensor?, group: Int, stride: [Int], dilation: [Int], pads: [Int], autoPad: String
    ) -> Tensor {
        let (n, c, m, cg) = (x.shape[0], x.shape[1], w.shape[0], w.shape[1])
        let spatial = Array(x.shape[2...]), kernel = Array(w.shape[2...])
        let window = Window(input: spatial, kernel: kernel, stride: stride, dilation: dilation, pads: pads, ceil: false, autoPad: autoPad)
        let (plane, taps, outPlane) = (spatial.reduce(1, *), kernel.reduce(1, *), window.taps.count)
        let xs = x.array(of: Float.self), ws = w.array(of: Float.self), bs = b?.array(of: Float.self)
        var out = [Float](repeating: 0, count: n * m * outPlane)
        for i in 0..<n { for o in 0..<m { for position in 0..<outPlane {
            var sum: Float = bs?[o] ?? 0
            let g = o / (m / group)
            for ci in 0..<cg { for (t, offset) in window.taps[position].enumerated() {
                guard let offset else { continue }
                sum += xs[(i * c + g * cg + ci) * plane + offset] * ws[(o * cg + ci) * taps + t]
            } }
            out[(i * m + o) * outPlane + position] = sum
        } } }
        return floats(out, [n, m] + window.outputShape)
    }

    static func maxPool(_ x: Tensor, _ window: Window, columnMajor: Bool) -> (Tensor, [Int64]) {
        let spatial = Array(x.shape[2...])
        let plane = spatial.reduce(1, *), planes = x.shape[0] * x.shape[1]
        let xs = x.array(of: Float.self)
        var values: [Float] = [], indices: [Int64] = []
        for p in 0..<planes { for taps in window.taps {
            let best = taps.compactMap { $0 }.max { xs[p * plane + $0] < xs[p * plane + $1] }!
            values.append(xs[p * plane + best])
            // Column-major: unravel row-major, then re-ravel with the first axis fastest.
            var rest = best, index = 0, scale = 1
            var coordinates: [Int] = []
            for size in spatial.reversed() {
                coordinates.insert(rest % size, at: 0)
                rest /= size
            }
            for (d, size) in spatial.enumerated() {
                index += coordinates[d] * scale
                scale *= size
            }
            indices.append(Int64(p * plane + (columnMajor ? index : best)))
        } }
        return (floats(values, Array(x.shape[..<2]) + window.outputShape), indices)
    }

    static func averagePool(_ x: Tensor, _ window: Window, includePad: Bool) -> Tensor {
        pool(x, window) { values, padded in values.reduce(0, +) / Float(includePad ? padded : values.count) }
    }

    static func lpPool(_ x: Tensor, _ window: Window, p: Float) -> Tensor {
        pool(x, window) { values, _ in pow(values.reduce(0) { $0 + pow(abs($1), p) }, 1 / p) }
    }

    private static func pool(_ x: Tensor, _ window: Window, _ reduce: ([Float], Int) -> Float) -> Tensor {
        let plane = x.shape[2...].reduce(1, *), planes = x.shape[0] * x.shape[1]
        let xs = x.array(of: Float.self)
        var out: [Float] = []
        for p in 0..<planes { for (taps, padded) in zip(window.taps, window.padded) {
            out.append(reduce(taps.compactMap { $0 }.map { xs[p * plane + $0] }, padded))
        } }
        return floats(out, Array(x.shape[..<2]) + window.outputShape)
    }
}
