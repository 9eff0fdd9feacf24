import Foundation
import Inference

/// The ONNX path under fuzzing: load (parse, operator and attribute checks, fusion, plan), then one run on
/// generated inputs — what the server does with every pushed file before it serves it (the warm-up).
///
/// Inputs are ones (as the server's warm-up makes them), any-size dimensions taken as 1; a model whose inputs would
/// exceed `inputElementLimit` elements is loaded but not run, and the session may hold at most `memoryLimit`
/// bytes, so one input costs bounded time and memory. Errors thrown by loading or running are the expected answers
/// to bad files; `check(_:)` reports only broken promises. Stateless and thread-safe.
public enum ModelFuzzHarness {
    /// Most elements of all generated inputs together.
    public static let inputElementLimit = 1 << 16
    /// The session's memory limit for the run.
    public static let memoryLimit = 64 << 20

    /// Loads `input` as an ONNX file and, when it loads, runs it once.
    ///
    /// - Returns: the first promise a successful run broke — one output per declared output, each with a valid shape
    ///   whose size matches its bytes — or nil.
    public static func check(_ input: some Collection<UInt8>) -> String? {
        guard let model = try? Model(onnx: Data(input)) else { return nil }
        let session = model.makeSession(memoryLimit: memoryLimit)
        var elements = 0
        for (position, spec) in model.inputs.enumerated() {
            let shape = (spec.shape ?? []).map { $0 ?? 1 }
            guard (try? shape.validateShape()) != nil else { return nil }
            elements += shape.elementCount
            guard elements <= inputElementLimit else { return nil }
            let bytes = [[UInt8]](repeating: spec.elementType.oneBytes, count: shape.elementCount).joined()
            let set = Array(bytes).withUnsafeBytes { raw in
                Result { () throws(InferenceError) in
                    if spec.elementType == .string {
                        try session.setInput(position, Tensor(strings: repeatElement("1", count: shape.elementCount), shape: shape))
                    } else {
                        try session.setInput(position, elementType: spec.elementType, shape: shape, copying: raw)
                    }
                }
            }
            if case .failure(let error) = set { return "generated input '\(spec.name)' \(shape) refused: \(error)" }
        }
        guard let outputs = try? session.run() else { return nil }
        guard outputs.count == model.outputs.count else {
            return "\(outputs.count) outputs for \(model.outputs.count) declared"
        }
        for (output, spec) in zip(outputs, model.outputs) {
            guard (try? output.shape.validateShape()) != nil,
                  output.shape.elementCount * output.elementType.byteSize == output.byteCount else {
                return "output '\(spec.name)' of shape \(output.shape) has \(output.byteCount) bytes"
            }
        }
        return nil
    }

    /// Seeds for the ONNX fuzzer made here (`fuzz-onnx --write-seeds DIR`): the request fuzzer's models and the bundled
    /// example; `scripts/fuzz.sh` adds the generated fixture models.
    public static var seeds: [(name: String, bytes: [UInt8])] {
        var seeds: [(String, [UInt8])] = []
        if let mixed = try? RequestFuzzHarness.mixedModel() { seeds.append(("mixed.onnx", Array(mixed))) }
        if let dynamic = try? RequestFuzzHarness.dynamicModel() { seeds.append(("dynamic.onnx", Array(dynamic))) }
        let example = Fixtures.exampleRepository.appendingPathComponent("purchase_propensity/1/model.onnx")
        if let bytes = try? Data(contentsOf: example) { seeds.append(("purchase_propensity.onnx", Array(bytes))) }
        return seeds
    }
}
