import Foundation
@testable import Inference
import ONNXSchema
import ZServeTesting

/// The node tests whose graph inputs or outputs are sequences or optionals of tensors: loaded with
/// `Model(contentsOf:allowingNonTensorGraphValues:)` (a served model may not have them), fed from ONNX's
/// SequenceProto / OptionalProto test data through `Session.setInput(_:value:)` and compared value by value (each
/// tensor of a sequence with the node tests' tolerances; an optional without element only with one).
enum SequenceValueTests {
    /// A graph value's kind, from its declared type.
    enum Kind {
        case tensor
        case sequence
        case optional
    }

    /// The kinds of the graph's inputs (initializers excluded) and outputs, or nil when one is neither a tensor, a
    /// sequence nor an optional (a map), or any nested deeper than an optional sequence.
    static func kinds(_ graph: Onnx_GraphProto) -> (inputs: [Kind], outputs: [Kind])? {
        func kind(_ type: Onnx_TypeProto) -> Kind? {
            switch type.value {
            case .tensorType?: return .tensor
            case .sequenceType(let sequence)?:
                if case .tensorType? = sequence.elemType.value { return .sequence }
                return nil
            case .optionalType(let optional)?:
                switch optional.elemType.value {
                case .tensorType?: return .optional
                case .sequenceType(let sequence)?:
                    if case .tensorType? = sequence.elemType.value { return .optional }
                    return nil
                default: return nil
                }
            default: return nil
            }
        }
        let initializers = Set(graph.initializer.map(\.name))
        var inputs: [Kind] = [], outputs: [Kind] = []
        for value in graph.input where !initializers.contains(value.name) {
            guard let k = kind(value.type) else { return nil }
            inputs.append(k)
        }
        for value in graph.output {
            guard let k = kind(value.type) else { return nil }
            outputs.append(k)
        }
        return (inputs, outputs)
    }

    /// Reads test-data file `file` as a value of `kind`.
    static func value(_ file: URL, _ kind: Kind) throws -> Value {
        let bytes = try Data(contentsOf: file)
        switch kind {
        case .tensor:
            return .tensor(try Tensor(onnx: try Onnx_TensorProto(serializedBytes: bytes)))
        case .sequence:
            return try sequence(try Onnx_SequenceProto(serializedBytes: bytes))
        case .optional:
            let proto = try Onnx_OptionalProto(serializedBytes: bytes)
            if proto.hasTensorValue { return .tensor(try Tensor(onnx: proto.tensorValue)) }
            if proto.hasSequenceValue { return try sequence(proto.sequenceValue) }
            return .noElement
        }
    }

    private static func sequence(_ proto: Onnx_SequenceProto) throws -> Value {
        let tensors = try proto.tensorValues.map { try Tensor(onnx: $0) }
        let elementType = tensors.first?.elementType
            ?? proto.tensorValues.first.flatMap { ElementType(rawValue: $0.dataType) } ?? .float32
        return .sequence(try TensorSequence(elementType: elementType, tensors: tensors))
    }

    /// Why `actual` differs from `expected`, or nil when they agree.
    static func mismatch(_ actual: Value, _ expected: Value) -> String? {
        switch (actual, expected) {
        case (.tensor(let a), .tensor(let b)):
            return Tolerance.mismatch(a, b, rtol: 1e-3, atol: 1e-7)
        case (.sequence(let a), .sequence(let b)):
            guard a.tensors.count == b.tensors.count else {
                return "a sequence of \(a.tensors.count) tensors, expected \(b.tensors.count)"
            }
            for (position, (x, y)) in zip(a.tensors, b.tensors).enumerated() {
                if let problem = Tolerance.mismatch(x, y, rtol: 1e-3, atol: 1e-7) { return "element \(position): \(problem)" }
            }
            return nil
        case (.noElement, .noElement):
            return nil
        default:
            return "\(actual.kindDescription), expected \(expected.kindDescription)"
        }
    }

    /// Loads and runs a node test with sequence or optional graph values; nil when its values are of another
    /// kind (maps), which stays a skip.
    static func evaluate(_ reference: ReferenceCase) -> NodeTests.Outcome? {
        guard let bytes = try? Data(contentsOf: reference.modelFile),
              let proto = try? Onnx_ModelProto(serializedBytes: bytes),
              let (inputKinds, outputKinds) = kinds(proto.graph)
        else { return nil }
        let model: Model
        do {
            model = try Model(contentsOf: reference.modelFile, allowingNonTensorGraphValues: true)
        } catch InferenceError.unsupported(let items) {
            return .skipped("unsupported: " + items.joined(separator: ", "))
        } catch {
            return .failed("load: \(error)")
        }
        let session = model.makeSession()
        let files = FileManager.default
        let sets = ((try? files.contentsOfDirectory(atPath: reference.directory.path)) ?? [])
            .filter { $0.hasPrefix("test_data_set_") }.sorted()
        for set in sets {
            let folder = reference.directory.appendingPathComponent(set)
            do {
                for (position, kind) in inputKinds.enumerated() {
                    let file = folder.appendingPathComponent("input_\(position).pb")
                    // An optional input without a file is absent.
                    guard files.fileExists(atPath: file.path) else {
                        try session.setInput(position, value: .noElement)
                        continue
                    }
                    try session.setInput(position, value: try value(file, kind))
                }
                let outputs = try session.runValues()
                for (position, kind) in outputKinds.enumerated() {
                    let expected = try value(folder.appendingPathComponent("output_\(position).pb"), kind)
                    if let problem = mismatch(outputs[position], expected) {
                        return .failed("\(set) output \(position): \(problem)")
                    }
                }
            } catch {
                return .failed("\(set): \(error)")
            }
        }
        return .passed
    }
}
