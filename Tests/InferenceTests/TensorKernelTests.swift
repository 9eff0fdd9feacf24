import Foundation
import Inference
import Testing
import ZServeTesting

private func int32s(_ values: [Int32], _ shape: [Int]) -> Tensor {
    values.withUnsafeBytes { Tensor(elementType: .int32, shape: shape, copying: $0) }
}

private func bools(_ values: [Bool], _ shape: [Int]) -> Tensor {
    values.map { UInt8($0 ? 1 : 0) }.withUnsafeBytes { Tensor(elementType: .bool, shape: shape, copying: $0) }
}

private func isInvalidInput(_ error: any Error) -> Bool {
    if case InferenceError.invalidInput = error { return true }
    return false
}

@Suite struct IndexingKernelTests {
    @Test func gatherTakesNegativeIndicesFromTheEnd() throws {
        let data = floats([5, 6, 7], [3])
        let y = try runNode("Gather", [data, int64s([-1, 0, -3, 2], [2, 2])])[0]
        #expect(y.shape == [2, 2])
        #expect(y.array(of: Float.self) == [7, 5, 5, 7])
    }

    @Test func gatherAlongAnInnerAxisWithInt32Indices() throws {
        let data = floats((0..<6).map(Float.init), [2, 3])
        let y = try runNode("Gather", [data, int32s([2, -3], [2])], attributes: ["axis": 1])[0]
        #expect(y.shape == [2, 2])
        #expect(y.array(of: Float.self) == [2, 0, 5, 3])
    }

    @Test func gatherRefusesOutOfRangeIndices() throws {
        let data = floats([5, 6, 7], [3])
        for bad: Int64 in [3, -4, .max, .min] {
            #expect(performing: { try runNode("Gather", [data, int64s([0, bad], [2])]) }, throws: isInvalidInput)
        }
    }

    @Test func gatherElementsPicksPerPositionAndRefusesOutOfRange() throws {
        let data = floats([1, 2, 3, 4], [2, 2])
        let y = try runNode("GatherElements", [data, int64s([0, 0, -1, 0], [2, 2])], attributes: ["axis": 1])[0]
        #expect(y.array(of: Float.self) == [1, 1, 4, 3])
        #expect(performing: {
            try runNode("GatherElements", [data, int64s([0, 2, 0, 0], [2, 2])], attributes: ["axis": 1])
        }, throws: isInvalidInput)
    }

    @Test func topKBreaksTiesByLowerIndexAndSorts() throws {
        let x = floats([1, 3, 3, 2, 3], [5])
        let largest = try runNode("TopK", [x, int64s([3], [1])], outputs: 2)
        #expect(largest[0].array(of: Float.self) == [3, 3, 3])
        #expect(largest[1].array(of: Int64.self) == [1, 2, 4])
        let smallest = try runNode("TopK", [x, int64s([2], [1])], attributes: ["largest": 0], outputs: 2)
        #expect(smallest[0].array(of: Float.self) == [1, 2])
        #expect(smallest[1].array(of: Int64.self) == [0, 3])
    }

    @Test func topKAlongTheFirstAxisOfAMatrix() throws {
        let x = floats([1, 9, 5, 2, 3, 7], [3, 2])
        let y = try runNode("TopK", [x, int64s([2], [1])], attributes: ["axis": 0], outputs: 2)
        #expect(y[0].shape == [2, 2])
        #expect(y[0].array(of: Float.self) == [5, 9, 3, 7])
        #expect(y[1].array(of: Int64.self) == [1, 0, 2, 2])
    }

    @Test func topKOverThousandsMatchesAFullSort() throws {
        let values = (0..<5000).map { Float(($0 * 7919) % 4999) }
        let y = try runNode("TopK", [floats(values, [1, 5000]), int64s([10], [1])], outputs: 2)
        let expected = values.enumerated().sorted { $0.element != $1.element ? $0.element > $1.element : $0.offset < $1.offset }
        #expect(y[0].array(of: Float.self) == expected.prefix(10).map(\.element))
        #expect(y[1].array(of: Int64.self) == expected.prefix(10).map { Int64($0.offset) })
    }

    /// Long float rows take the sampled-threshold scan, which must give exactly a full sort's answer whatever the
    /// order: shuffled, ascending (the estimate rises row by row), all equal (the estimate lets nothing in and the
    /// row is scanned again), many ties, NaNs (ranked last), and the smallest instead of the largest.
    @Test(arguments: ["shuffled", "ascending", "descending", "constant", "ties", "nan", "smallest"])
    func topKOnLongRowsMatchesAFullSort(_ order: String) throws {
        let count = 3000
        var values: [Float] = (0..<count).map { Float(($0 * 7919) % count) / 7 }
        switch order {
        case "ascending": values.sort()
        case "descending": values.sort(by: >)
        case "constant": values = [Float](repeating: 2.5, count: count)
        case "ties": values = values.map { ($0 / 50).rounded(.down) }
        case "nan": for i in stride(from: 0, to: count, by: 3) { values[i] = .nan }
        default: break
        }
        let largest = order != "smallest"
        let rows = 3, k = 70
        // Three rows, each shifted, so per-row offsets are exercised too.
        let matrix = (0..<rows).flatMap { r in values.map { $0 + Float(r) } }
        let y = try runNode(
            "TopK", [floats(matrix, [rows, count]), int64s([Int64(k)], [1])],
            attributes: ["largest": largest ? 1 : 0], outputs: 2)
        for r in 0..<rows {
            let row = Array(matrix[(r * count)..<((r + 1) * count)])
            let expected = row.enumerated().sorted { a, b in
                if a.element.isNaN != b.element.isNaN { return b.element.isNaN }
                if a.element != b.element && !a.element.isNaN { return largest ? a.element > b.element : a.element < b.element }
                return a.offset < b.offset
            }.prefix(k)
            let gotIndices = Array(y[1].array(of: Int64.self)[(r * k)..<((r + 1) * k)])
            #expect(gotIndices == expected.map { Int64($0.offset) })
            let gotValues = Array(y[0].array(of: Float.self)[(r * k)..<((r + 1) * k)])
            #expect(zip(gotValues, expected).allSatisfy { $0.bitPattern == $1.element.bitPattern })
        }
    }

    @Test func topKRefusesKOutOfRange() throws {
        let x = floats([1, 2], [2])
        #expect(performing: { try runNode("TopK", [x, int64s([3], [1])], outputs: 2) }, throws: isInvalidInput)
        #expect(performing: { try runNode("TopK", [x, int64s([-1], [1])], outputs: 2) }, throws: isInvalidInput)
    }
}

@Suite struct LayoutKernelTests {
    let ten = floats((0..<10).map(Float.init), [10])

    @Test func sliceWithNegativeStepsWalksBackwardsAndClamps() throws {
        func slice(_ start: Int64, _ end: Int64, _ step: Int64) throws -> [Float] {
            try runNode("Slice", [ten, int64s([start], [1]), int64s([end], [1]), int64s([0], [1]), int64s([step], [1])])[0]
                .array(of: Float.self)
        }
        #expect(try slice(-1, -100, -2) == [9, 7, 5, 3, 1])
        #expect(try slice(20, 0, -3) == [9, 6, 3])
        #expect(try slice(.max, .min, -1) == [9, 8, 7, 6, 5, 4, 3, 2, 1, 0])
        #expect(try slice(-20, -100, -1) == [0], "a start before the axis clamps to 0 for negative steps")
        #expect(try slice(2, 5, .min) == [])
        #expect(try slice(5, 2, .min) == [5])
        #expect(try slice(1, 100, .max) == [1])
        #expect(performing: { try slice(0, 5, 0) }, throws: isInvalidInput)
    }

    @Test func sliceOnTwoAxesWithDefaultAxesAndSteps() throws {
        let x = floats((0..<12).map(Float.init), [3, 4])
        let y = try runNode("Slice", [x, int64s([1, -3], [2]), int64s([3, 100], [2])])[0]
        #expect(y.shape == [2, 3])
        #expect(y.array(of: Float.self) == [5, 6, 7, 9, 10, 11])
    }

    @Test func squeezeAndUnsqueezeTakeAxesAsInputsOrAttributes() throws {
        let x = floats([1, 2, 3], [1, 3, 1])
        #expect(try runNode("Squeeze", [x])[0].shape == [3])
        #expect(try runNode("Squeeze", [x, int64s([-1], [1])])[0].shape == [1, 3])
        #expect(try runNode("Squeeze", [x], opset: 11, attributes: ["axes": [0]])[0].shape == [3, 1])
        #expect(performing: { try runNode("Squeeze", [x, int64s([1], [1])]) }, throws: isInvalidInput)
        let v = floats([1, 2, 3], [3])
        #expect(try runNode("Unsqueeze", [v, int64s([0, -1], [2])])[0].shape == [1, 3, 1])
        #expect(try runNode("Unsqueeze", [v], opset: 11, attributes: ["axes": [1]])[0].shape == [3, 1])
        #expect(performing: { try runNode("Unsqueeze", [v, int64s([0, 0], [2])]) }, throws: isInvalidInput)
    }

    @Test func expandBroadcastsBothWaysAndRefusesHugeShapes() throws {
        let column = floats([1, 2], [2, 1])
        let y = try runNode("Expand", [column, int64s([1, 3], [2])])[0]
        #expect(y.shape == [2, 3])
        #expect(y.array(of: Float.self) == [1, 1, 1, 2, 2, 2])
        #expect(try runNode("Expand", [column, int64s([2, 1, 1], [3])])[0].shape == [2, 2, 1])
        #expect(performing: { try runNode("Expand", [column, int64s([1 << 40, 1 << 40], [2])]) }, throws: isInvalidInput)
        #expect(performing: { try runNode("Expand", [column, int64s([-1, 1], [2])]) }, throws: isInvalidInput)
    }

    @Test func tileRepeatsEachAxisAndRefusesOverflow() throws {
        let x = floats([1, 2, 3, 4], [2, 2])
        let y = try runNode("Tile", [x, int64s([1, 2], [2])])[0]
        #expect(y.shape == [2, 4])
        #expect(y.array(of: Float.self) == [1, 2, 1, 2, 3, 4, 3, 4])
        #expect(performing: { try runNode("Tile", [x, int64s([.max, 2], [2])]) }, throws: isInvalidInput)
        #expect(performing: { try runNode("Tile", [x, int64s([-1, 2], [2])]) }, throws: isInvalidInput)
    }

    @Test func transposeDefaultsToReversedAxes() throws {
        let x = floats((0..<6).map(Float.init), [2, 3])
        let y = try runNode("Transpose", [x])[0]
        #expect(y.shape == [3, 2])
        #expect(y.array(of: Float.self) == [0, 3, 1, 4, 2, 5])
        let z = try runNode("Transpose", [floats((0..<24).map(Float.init), [2, 3, 4])], attributes: ["perm": [1, 0, 2]])[0]
        #expect(z.shape == [3, 2, 4])
        #expect(Array(z.array(of: Float.self)[0..<8]) == [0, 1, 2, 3, 12, 13, 14, 15])
    }

    @Test func shapeHonoursStartAndEnd() throws {
        let x = floats([Float](repeating: 0, count: 24), [2, 3, 4])
        #expect(try runNode("Shape", [x])[0].array(of: Int64.self) == [2, 3, 4])
        #expect(try runNode("Shape", [x], opset: 15, attributes: ["start": -2])[0].array(of: Int64.self) == [3, 4])
        #expect(try runNode("Shape", [x], opset: 15, attributes: ["start": 2, "end": 1])[0].array(of: Int64.self) == [])
    }
}

@Suite struct ReductionKernelTests {
    let x = floats([1, 2, 3, 4, 5, 6], [2, 3])

    @Test func reduceSumWithEmptyAxesReducesAllOrNothing() throws {
        let none = int64s([], [0])
        let all = try runNode("ReduceSum", [x, none], opset: 13)[0]
        #expect(all.shape == [1, 1])
        #expect(all.array(of: Float.self) == [21])
        let noop = try runNode("ReduceSum", [x, none], opset: 13, attributes: ["noop_with_empty_axes": 1])[0]
        #expect(noop.shape == [2, 3])
        #expect(noop.array(of: Float.self) == x.array(of: Float.self))
        let rows = try runNode("ReduceSum", [x, int64s([-1], [1])], opset: 13, attributes: ["keepdims": 0])[0]
        #expect(rows.shape == [2])
        #expect(rows.array(of: Float.self) == [6, 15])
    }

    @Test func reduceMeanAndMaxFollowTheOpsetForm() throws {
        let mean = try runNode("ReduceMean", [x], opset: 17, attributes: ["axes": [0]])[0]
        #expect(mean.shape == [1, 3])
        #expect(mean.array(of: Float.self) == [2.5, 3.5, 4.5])
        let max = try runNode("ReduceMax", [x, int64s([1], [1])], opset: 18, attributes: ["keepdims": 0])[0]
        #expect(max.array(of: Float.self) == [3, 6])
        // The attribute form is refused where the opset takes axes as an input.
        #expect(throws: InferenceError.unsupported(["ReduceMax attribute 'axes'"])) {
            try runNode("ReduceMax", [x], opset: 18, attributes: ["axes": [1]])
        }
    }

    @Test func emptyReductionsGiveTheIdentity() throws {
        let empty = floats([], [0, 2])
        #expect(try runNode("ReduceSum", [empty, int64s([0], [1])], opset: 13)[0].array(of: Float.self) == [0, 0])
        #expect(try runNode("ReduceMax", [empty, int64s([0], [1])], opset: 18)[0].array(of: Float.self) == [-.infinity, -.infinity])
    }

    @Test func argMaxTakesFirstOrLastOfEqualMaxima() throws {
        let t = floats([1, 5, 5, 2, 2, 0], [2, 3])
        #expect(try runNode("ArgMax", [t], attributes: ["axis": 1])[0].array(of: Int64.self) == [1, 0])
        let last = try runNode("ArgMax", [t], attributes: ["axis": 1, "select_last_index": 1, "keepdims": 0])[0]
        #expect(last.shape == [2])
        #expect(last.array(of: Int64.self) == [2, 1])
    }
}

@Suite struct ElementwiseTensorKernelTests {
    @Test func castFollowsONNXRoundingAndOverflowRules() throws {
        let f = floats([-1.7, 1.7, 2.5, .nan, 1e10, -1e10], [6])
        #expect(try runNode("Cast", [f], attributes: ["to": 6])[0].array(of: Int32.self)
            == [-1, 1, 2, 0, .max, .min], "truncation toward zero; NaN 0; out of range saturates")
        #expect(try runNode("Cast", [f], attributes: ["to": 2])[0].array(of: UInt8.self) == [0, 1, 2, 0, 255, 0])
        #expect(try runNode("Cast", [int32s([200, -129, 7], [3])], attributes: ["to": 3])[0].array(of: Int8.self)
            == [-56, 127, 7], "integers keep their low bits")
        #expect(try runNode("Cast", [int64s([0, 3, -2], [3])], attributes: ["to": 9])[0].array(of: UInt8.self) == [0, 1, 1])
        #expect(try runNode("Cast", [bools([true, false], [2])], attributes: ["to": 1])[0].array(of: Float.self) == [1, 0])
        let wide = [1e300, 0.1].withUnsafeBytes { Tensor(elementType: .float64, shape: [2], copying: $0) }
        #expect(try runNode("Cast", [wide], attributes: ["to": 1])[0].array(of: Float.self) == [.infinity, 0.1])
        #expect(throws: InferenceError.unsupported(["Cast to ONNX data type 16"]), "bfloat16 is not carried") {
            try runNode("Cast", [f], attributes: ["to": 16])
        }
    }

    @Test func whereBroadcastsConditionAndBothBranches() throws {
        let condition = bools([true, false], [2, 1])
        let y = try runNode("Where", [condition, floats([1, 2, 3], [1, 3]), floats([0], [])])[0]
        #expect(y.shape == [2, 3])
        #expect(y.array(of: Float.self) == [1, 2, 3, 0, 0, 0])
        let ints = try runNode("Where", [bools([true, false, true], [3]), int64s([1, 2, 3], [3]), int64s([-1, -2, -3], [3])])[0]
        #expect(ints.array(of: Int64.self) == [1, -2, 3])
    }

    @Test func comparisonsGiveBools() throws {
        let a = floats([1, 2, 3], [3]), b = floats([2], [])
        let less = try runNode("Less", [a, b])[0]
        #expect(less.elementType == .bool)
        #expect(less.array(of: UInt8.self) == [1, 0, 0])
        #expect(try runNode("Greater", [a, b])[0].array(of: UInt8.self) == [0, 0, 1])
        #expect(try runNode("Equal", [int64s([1, 2], [2]), int64s([2], [1])])[0].array(of: UInt8.self) == [0, 1])
    }

    @Test func clipTakesBoundsAsInputsOrAttributes() throws {
        let x = floats([-5, 0, 5], [3])
        #expect(try runNode("Clip", [x, floats([-1], []), floats([1], [])])[0].array(of: Float.self) == [-1, 0, 1])
        #expect(try runNode("Clip", [x], opset: 10, attributes: ["min": Float(-2)])[0].array(of: Float.self) == [-2, 0, 5])
        #expect(try runNode("Clip", [x, floats([2], []), floats([1], [])])[0].array(of: Float.self) == [1, 1, 1])
    }

    @Test func layerNormalizationNormalizesTrailingAxes() throws {
        let x = floats([1, 2, 3, 4, 2, 2, 2, 2], [2, 4])
        let outputs = try runNode("LayerNormalization", [x, floats([1, 1, 1, 1], [4]), floats([0, 0, 0, 1], [4])], outputs: 3)
        let y = outputs[0].array(of: Float.self)
        let inv = 1 / (1.25 + 1e-5 as Float).squareRoot()
        let expected: [Float] = [-1.5 * inv, -0.5 * inv, 0.5 * inv, 1.5 * inv + 1, 0, 0, 0, 1]
        for (got, want) in zip(y, expected) { #expect(abs(got - want) < 1e-5) }
        #expect(outputs[1].shape == [2, 1])
        #expect(outputs[1].array(of: Float.self) == [2.5, 2])
    }

    @Test func geluExactAndTanh() throws {
        let x = floats([-1, 0, 1], [3])
        let exact = try runNode("Gelu", [x], opset: 20)[0].array(of: Float.self)
        let approx = try runNode("Gelu", [x], opset: 20, attributes: ["approximate": "tanh"])[0].array(of: Float.self)
        #expect(abs(exact[2] - 0.8413447) < 1e-6 && exact[1] == 0)
        #expect(abs(approx[2] - 0.8411920) < 1e-6)
        #expect(throws: InferenceError.unsupported(["Gelu approximate 'fast'"])) {
            try runNode("Gelu", [x], opset: 20, attributes: ["approximate": "fast"])
        }
    }

    @Test func powKeepsTheBaseType() throws {
        #expect(try runNode("Pow", [floats([2, 3], [2]), floats([2], [])])[0].array(of: Float.self) == [4, 9])
        #expect(try runNode("Pow", [int64s([2, 3], [2]), floats([3], [])])[0].array(of: Int64.self) == [8, 27])
        #expect(try runNode("Pow", [floats([4], [1]), int64s([-1], [1])])[0].array(of: Float.self) == [0.25])
    }
}
