import Foundation
import Inference
import ONNXSchema
import Testing
import ZServeTesting

/// ONNX's bundled model suites next to the node tests in the onnx wheel: `pytorch-converted` and `pytorch-operator`
/// (PyTorch exports, mostly opset 6), `simple` (small graphs), and `light` (ImageNet architectures whose weights are
/// constants, fed ONNX's dummy input).
///
/// As for node tests, every model that loads must give the suite's expected outputs (rtol 1e-3, atol 1e-7); a model
/// the loader refuses as `.unsupported` is skipped with its reason.
enum ModelSuites {
    static let names = ["pytorch-converted", "pytorch-operator", "simple", "light"]

    /// One model of a suite.
    struct Case: Sendable, CustomStringConvertible {
        let suite: String
        let name: String
        let modelFile: URL
        /// The `light` suite's expected output (`<model>_output_0.pb`); nil for the suites in node-test layout.
        let lightOutput: URL?

        var description: String { "\(suite)/\(name)" }

        func evaluate() -> NodeTests.Outcome {
            if let reason = ModelSuites.illConditioned[name] { return .skipped(reason) }
            if let lightOutput {
                return NodeTests.evaluate(modelFile: modelFile) { try ModelSuites.lightDataSet(modelFile, lightOutput) }
            }
            let reference = ReferenceCase(name: name, directory: modelFile.deletingLastPathComponent())
            return NodeTests.evaluate(reference)
        }
    }

    /// Models whose expected outputs no other summation order reproduces, with why. light_squeezenet's constant
    /// weights make all 1,000 logits equal at about 9.5·10⁹, where one float32 ulp is 1,024: the reference computes
    /// every channel in the same order and gets exactly uniform probabilities, while any other order (OpenBLAS's tile
    /// edges differ per channel) leaves logits a few ulps apart, which Softmax turns into probabilities from 1e-39 to
    /// 1. Its logits (the GlobalAveragePool output) match onnxruntime's within rtol 1e-3.
    static let illConditioned = [
        "light_squeezenet": "ill-conditioned: Softmax over 1,000 equal logits of 9.5e9 (one float32 ulp = 1,024) "
            + "reproduces the expected uniform output only in the reference's summation order",
    ]

    /// Every model of every suite, sorted by suite and name; empty when the node tests are not installed.
    static let cases: [Case] = {
        guard let data = NodeTests.directory?.deletingLastPathComponent() else { return [] }
        let files = FileManager.default
        var result: [Case] = []
        for suite in names {
            let folder = data.appendingPathComponent(suite)
            let entries = ((try? files.contentsOfDirectory(atPath: folder.path)) ?? []).sorted()
            for entry in entries {
                if suite == "light" {
                    guard entry.hasSuffix(".onnx") else { continue }
                    let stem = String(entry.dropLast(".onnx".count))
                    result.append(Case(
                        suite: suite, name: stem, modelFile: folder.appendingPathComponent(entry),
                        lightOutput: folder.appendingPathComponent("\(stem)_output_0.pb")))
                } else if entry.hasPrefix("test_") {
                    result.append(Case(
                        suite: suite, name: entry,
                        modelFile: folder.appendingPathComponent(entry).appendingPathComponent("model.onnx"),
                        lightOutput: nil))
                }
            }
        }
        return result
    }()

    /// ONNX's dummy data set for a `light` model: each graph input that is not an initializer holds
    /// `arange(n) / n` as float32 in its declared shape (unknown dimensions as 1); the expected output is the file.
    static func lightDataSet(
        _ modelFile: URL, _ output: URL
    ) throws -> [(inputs: [(String, Tensor)], outputs: [(String, Tensor)])] {
        let model = try Onnx_ModelProto(serializedBytes: try Data(contentsOf: modelFile))
        let initializers = Set(model.graph.initializer.map(\.name))
        var inputs: [(String, Tensor)] = []
        for input in model.graph.input where !initializers.contains(input.name) {
            guard case .tensorType(let type)? = input.type.value else { continue }
            let shape = type.shape.dim.map { dim -> Int in
                if case .dimValue(let size)? = dim.value { return Int(size) }
                return 1
            }
            let count = shape.reduce(1, *)
            let values = (0..<count).map { Float(Double($0) / Double(count)) }
            inputs.append((input.name, Tensor(float32: values, shape: shape)))
        }
        let expected = try Onnx_TensorProto(serializedBytes: try Data(contentsOf: output))
        let name = model.graph.output.first?.name ?? expected.name
        return [(inputs, [(name, try Tensor(onnx: expected))])]
    }
}

@Suite struct ModelSuiteConformanceTests {
    @Test(arguments: ModelSuites.cases)
    func suiteModel(_ suiteCase: ModelSuites.Case) throws {
        switch suiteCase.evaluate() {
        case .passed: break
        case .skipped(let reason): try Test.cancel("skipped: \(reason)")
        case .failed(let message): Issue.record("\(suiteCase): \(message)")
        }
    }
}
