import Foundation
import Inference
import Testing
import ZServeTesting

/// The load-time element type check (`ElementTypeFlow` with the kernels' `DeclaresElementTypes`): for each sample
/// node and every element type at its first input, a model either is refused when it loads, naming node and input, or
/// runs — never loads and then fails its requests on the type.
@Suite struct LoadTimeTypeCheckTests {
    /// A one-node graph: input 0 of the type under test with `shape`, the other inputs float32 initializers.
    struct Sample: CustomTestStringConvertible, Sendable {
        let opType: String
        let shape: [Int]
        let others: [(String, [Int])]
        let attributes: [String: any Sendable]
        /// Types the kernel computes on at input 0; every other type must be refused at load.
        let computes: Set<ElementType>

        var testDescription: String { opType }

        func model(_ type: ElementType) throws -> Model {
            var graph = ONNXGraphBuilder(opset: 18)
            graph.input("x", type, shape.map { $0 })
            for (name, shape) in others {
                graph.initializer(name, Tensor(float32: [Float](repeating: 0.5, count: shape.elementCount), shape: shape))
            }
            graph.node(opType, ["x"] + others.map(\.0), ["y"], name: "n", attributes.mapValues { $0 as Any })
            graph.output("y", type, nil)
            return try Model(onnx: graph.serialized())
        }
    }

    static let samples: [Sample] = [
        Sample(opType: "Relu", shape: [2, 3], others: [], attributes: [:], computes: [.float32]),
        Sample(opType: "Sigmoid", shape: [2, 3], others: [], attributes: [:], computes: [.float32]),
        Sample(opType: "Gemm", shape: [2, 3], others: [("b", [3, 4]), ("c", [4])], attributes: [:], computes: [.float32]),
        Sample(opType: "MatMul", shape: [2, 3], others: [("b", [3, 4])], attributes: [:], computes: [.float32]),
        Sample(opType: "Conv", shape: [1, 1, 4, 4], others: [("w", [2, 1, 3, 3])], attributes: [:], computes: [.float32]),
        Sample(opType: "BatchNormalization", shape: [1, 2, 3],
               others: [("scale", [2]), ("bias", [2]), ("mean", [2]), ("variance", [2])], attributes: [:],
               computes: [.float32]),
        Sample(opType: "MaxPool", shape: [1, 1, 4, 4], others: [], attributes: ["kernel_shape": [2, 2]],
               computes: [.float32, .float64, .uint8, .int8]),
        Sample(opType: "AveragePool", shape: [1, 1, 4, 4], others: [], attributes: ["kernel_shape": [2, 2]],
               computes: [.float32]),
        Sample(opType: "GlobalAveragePool", shape: [1, 2, 3, 3], others: [], attributes: [:], computes: [.float32]),
        Sample(opType: "ConvTranspose", shape: [1, 1, 3, 3], others: [("w", [1, 2, 2, 2])], attributes: [:],
               computes: [.float32]),
        Sample(opType: "LayerNormalization", shape: [2, 4], others: [("scale", [4])], attributes: [:], computes: [.float32]),
        Sample(opType: "InstanceNormalization", shape: [1, 2, 3], others: [("scale", [2]), ("bias", [2])],
               attributes: [:], computes: [.float32]),
        Sample(opType: "LRN", shape: [1, 3, 2, 2], others: [], attributes: ["size": 3], computes: [.float32]),
        Sample(opType: "Softmax", shape: [2, 3], others: [], attributes: [:], computes: [.float32, .float64]),
        Sample(opType: "Exp", shape: [2, 3], others: [], attributes: [:], computes: [.float32, .float64]),
        Sample(opType: "Neg", shape: [2, 3], others: [], attributes: [:], computes: [.float32, .float64, .int8, .int32, .int64]),
        Sample(opType: "Abs", shape: [2, 3], others: [], attributes: [:],
               computes: [.float32, .float64, .int8, .int32, .int64, .uint8]),
    ]

    /// Every type but string (strings have their own check and no byte form to feed).
    static let types = ElementType.allCases.filter { $0 != .string }

    @Test(arguments: samples)
    func aTypeEitherRunsOrIsRefusedAtLoad(_ sample: Sample) throws {
        for type in Self.types {
            let model: Model
            do {
                model = try sample.model(type)
            } catch let InferenceError.unsupported(reasons) {
                #expect(!sample.computes.contains(type), "\(sample.opType) refused \(type): \(reasons)")
                #expect(reasons.count == 1 && reasons[0].hasPrefix("\(sample.opType) 'n': \(type) input 'x'"), "\(reasons)")
                continue
            }
            #expect(sample.computes.contains(type), "\(sample.opType) loaded with a \(type) input")
            let session = model.makeSession()
            let bytes = [[UInt8]](repeating: type.oneBytes, count: sample.shape.elementCount).flatMap { $0 }
            try session.setInput(0, bytes.withUnsafeBytes { Tensor(elementType: type, shape: sample.shape, copying: $0) })
            #expect(throws: Never.self, "\(sample.opType) on \(type)") { try session.run() }
        }
    }
}
