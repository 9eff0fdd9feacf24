import Foundation
import Inference
import ServingProtocol

/// Turns a model file into a servable: parse, operator check, memory plan, then a warm-up run.
enum VersionLoader {
    /// Loads `file` as version `version` of `name` and warms it up.
    ///
    /// - Returns: the servable, and the warm-up failure that was tolerated (only for `.generated(required: false)`).
    /// - Throws: INVALID_ARGUMENT naming what is wrong: not ONNX, unsupported operators, or a failed warm-up.
    static func load(
        file: URL, name: String, version: Int64, warmup: Warmup
    ) throws(ServingError) -> (Servable, tolerated: Error?) {
        let model: Model
        do {
            model = try Model(contentsOf: file)
        } catch {
            throw ServingError(.invalidArgument, "\(error)")
        }
        do {
            switch warmup {
            case .given(let inputs): try run(model, on: inputs)
            case .generated: try run(model, on: generatedInputs(for: model))
            }
        } catch {
            if case .generated(required: false) = warmup {
                return (Servable(name: name, version: version, model: model), error)
            }
            throw ServingError(.invalidArgument, "warm-up failed: \(error)")
        }
        return (Servable(name: name, version: version, model: model), nil)
    }

    /// Runs `model` once on `inputs`, which must name every model input.
    private static func run(_ model: Model, on inputs: [Zserve_V1_Tensor]) throws {
        let session = model.makeSession(memoryLimit: 1 << 30)
        for (position, spec) in model.inputs.enumerated() {
            guard let tensor = inputs.first(where: { $0.name == spec.name }) else {
                throw ServingError(.invalidArgument, "warm-up input '\(spec.name)' is missing")
            }
            try session.setInput(position, try TensorCodec.tensor(from: tensor))
        }
        _ = try session.run()
    }

    /// Inputs of ones for every model input (zeros could divide by zero); empty strings for string inputs.
    static func generatedInputs(for model: Model) throws -> [Zserve_V1_Tensor] {
        try model.inputs.map { spec in
            let shape = (spec.shape ?? []).map { $0 ?? 1 }
            try shape.validateShape()
            return Zserve_V1_Tensor.with {
                $0.name = spec.name
                $0.dtype = TensorCodec.dataType(spec.elementType)
                $0.shape = shape.map(Int64.init)
                if spec.elementType == .string {
                    $0.stringData = Array(repeating: Data(), count: shape.elementCount)
                } else {
                    $0.rawData = Data(repeatElement(spec.elementType.oneBytes, count: shape.elementCount).joined())
                }
            }
        }
    }
}
