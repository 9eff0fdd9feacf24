import Foundation
import Inference
import ONNXSchema
import Testing
import ZServeTesting

/// int16, uint16, uint32 and uint64: read from every ONNX field form, refused at load where a kernel cannot take them,
/// and computed with ONNX's integer semantics (wrap-around, truncating casts, saturating float → integer).
@Suite struct IntegerTypeTests {
    private func tensor<T: FixedWidthInteger>(_ values: [T], _ type: ElementType, _ shape: [Int]? = nil) -> Tensor {
        values.withUnsafeBytes { Tensor(elementType: type, shape: shape ?? [values.count], copying: $0) }
    }

    @Test func typedFieldsAreNarrowedToTheDeclaredType() throws {
        // ONNX keeps int16/uint16 in int32_data and uint32/uint64 in uint64_data.
        let int16 = try Tensor(onnx: .with {
            $0.dataType = ElementType.int16.rawValue
            $0.dims = [3]
            $0.int32Data = [-32768, -1, 32767]
        })
        #expect(int16.array(of: Int16.self) == [-32768, -1, 32767])
        let uint32 = try Tensor(onnx: .with {
            $0.dataType = ElementType.uint32.rawValue
            $0.dims = [2]
            $0.uint64Data = [0, 4_294_967_295]
        })
        #expect(uint32.array(of: UInt32.self) == [0, .max])
        let uint64 = try Tensor(onnx: .with {
            $0.dataType = ElementType.uint64.rawValue
            $0.dims = [1]
            $0.uint64Data = [.max]
        })
        #expect(uint64.array(of: UInt64.self) == [.max])
        #expect(throws: InferenceError.invalidModel("tensor has 1 values in uint64_data, dims [2] need 2")) {
            try Tensor(onnx: .with {
                $0.dataType = ElementType.uint32.rawValue
                $0.dims = [2]
                $0.uint64Data = [1]
            })
        }
    }

    @Test func aTypeReachingAKernelThatCannotTakeItIsRefusedAtLoad() throws {
        var direct = ONNXGraphBuilder(opset: 18)
        direct.input("x", .uint64, [4])
        direct.node("Softmax", ["x"], ["y"], name: "s")
        direct.output("y", .uint64, [4])
        #expect(throws: InferenceError.unsupported(["Softmax 's': uint64 input 'x' (Softmax does not take it here)"])) {
            try Model(onnx: direct.serialized())
        }
        // The type is followed through a Cast: the Cast itself is fine, the Relu after it is named.
        var followed = ONNXGraphBuilder(opset: 18)
        followed.input("x", .float32, [4])
        followed.node("Cast", ["x"], ["narrow"], ["to": Int(ElementType.int16.rawValue)])
        followed.node("Relu", ["narrow"], ["y"], name: "r")
        followed.output("y", .int16, [4])
        #expect(throws: InferenceError.unsupported(["Relu 'r': int16 input 'narrow' (Relu does not take it here)"])) {
            try Model(onnx: followed.serialized())
        }
    }

    @Test func castsWrapTruncateAndSaturate() throws {
        var graph = ONNXGraphBuilder(opset: 18)
        graph.input("f", .float32, [5])
        graph.input("i", .int64, [3])
        graph.input("u", .uint64, [2])
        graph.node("Cast", ["f"], ["f16"], ["to": Int(ElementType.uint16.rawValue)])
        graph.node("Cast", ["i"], ["i64"], ["to": Int(ElementType.uint64.rawValue)])
        graph.node("Cast", ["i"], ["i16"], ["to": Int(ElementType.int16.rawValue)])
        graph.node("Cast", ["u"], ["uf"], ["to": Int(ElementType.float64.rawValue)])
        graph.output("f16", .uint16, [5])
        graph.output("i64", .uint64, [3])
        graph.output("i16", .int16, [3])
        graph.output("uf", .float64, [2])
        let session = try Model(onnx: graph.serialized()).makeSession()
        try session.setInput(0, Tensor(float32: [-3.5, 2.9, 70_000, .nan, 65_535], shape: [5]))
        try session.setInput(1, Tensor(int64: [-1, 65_537, 40_000], shape: [3]))
        try session.setInput(2, tensor([UInt64.max, 1 << 53], .uint64))
        let outputs = try session.run()
        #expect(outputs[0].array(of: UInt16.self) == [0, 2, 65_535, 0, 65_535])  // truncated toward zero, saturated
        #expect(outputs[1].array(of: UInt64.self) == [.max, 65_537, 40_000])  // two's complement
        #expect(outputs[2].array(of: Int16.self) == [-1, 1, -25_536])  // low 16 bits
        #expect(outputs[3].array(of: Double.self) == [18_446_744_073_709_551_616, 9_007_199_254_740_992])
    }

    @Test func arithmeticWrapsAndShiftsPastTheWidthGiveZero() throws {
        var graph = ONNXGraphBuilder(opset: 18)
        graph.input("a", .uint32, [4])
        graph.input("b", .uint32, [4])
        graph.input("s", .int16, [3])
        graph.node("Sub", ["a", "b"], ["difference"])
        graph.node("BitShift", ["a", "b"], ["shifted"], ["direction": "LEFT"])
        graph.node("Div", ["s", "s"], ["one"])
        graph.node("Mod", ["s", "modulus"], ["remainder"])
        graph.initializer("modulus", tensor([Int16(-7)], .int16, []))
        graph.output("difference", .uint32, [4])
        graph.output("shifted", .uint32, [4])
        graph.output("one", .int16, [3])
        graph.output("remainder", .int16, [3])
        let session = try Model(onnx: graph.serialized()).makeSession()
        try session.setInput(0, tensor([UInt32(1), 2, 3, .max], .uint32))
        try session.setInput(1, tensor([UInt32(2), 30, 32, 1], .uint32))
        try session.setInput(2, tensor([Int16(-32768), 10, -10], .int16))
        let outputs = try session.run()
        let wrapped: [UInt32] = [.max, 4_294_967_268, 4_294_967_267, 4_294_967_294]
        #expect(outputs[0].array(of: UInt32.self) == wrapped)
        let shifted: [UInt32] = [4, 2_147_483_648, 0, 4_294_967_294]
        #expect(outputs[1].array(of: UInt32.self) == shifted)
        #expect(outputs[2].array(of: Int16.self) == [1, 1, 1])
        // Mod without fmod follows the divisor's sign (Python's %).
        #expect(outputs[3].array(of: Int16.self) == [-1, -4, -3])
    }
}
