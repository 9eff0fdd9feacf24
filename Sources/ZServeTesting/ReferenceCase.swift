import Foundation
import Inference
import ONNXSchema

/// A model with inputs and expected outputs in the layout of ONNX's backend node tests:
/// `<dir>/model.onnx` and `<dir>/test_data_set_N/{input,output}_K.pb` (serialized TensorProto).
public struct ReferenceCase: Sendable, CustomStringConvertible {
    public let name: String
    public let directory: URL

    public init(name: String, directory: URL) {
        self.name = name
        self.directory = directory
    }

    public var modelFile: URL { directory.appendingPathComponent("model.onnx") }
    public var description: String { name }

    /// Each data set's inputs and expected outputs, both with their graph names.
    public func dataSets() throws -> [(inputs: [(String, Tensor)], outputs: [(String, Tensor)])] {
        let files = FileManager.default
        let sets = try files.contentsOfDirectory(atPath: directory.path).filter { $0.hasPrefix("test_data_set_") }.sorted()
        return try sets.map { set in
            let folder = directory.appendingPathComponent(set)
            return (try Self.tensors(in: folder, prefix: "input_"), try Self.tensors(in: folder, prefix: "output_"))
        }
    }

    private static func tensors(in folder: URL, prefix: String) throws -> [(String, Tensor)] {
        var result: [(String, Tensor)] = []
        for index in 0... {
            let file = folder.appendingPathComponent("\(prefix)\(index).pb")
            guard FileManager.default.fileExists(atPath: file.path) else { break }
            let proto = try Onnx_TensorProto(serializedBytes: try Data(contentsOf: file))
            result.append((proto.name, try Tensor(onnx: proto)))
        }
        return result
    }
}

/// Where the generated test fixtures live (`scripts/make_test_models.py --out DIR`).
public enum Fixtures {
    /// `$ZSERVE_FIXTURES`, or `.fixtures` at the package root.
    public static var root: URL {
        if let path = ProcessInfo.processInfo.environment["ZSERVE_FIXTURES"], !path.isEmpty {
            return URL(fileURLWithPath: path)
        }
        return packageRoot.appendingPathComponent(".fixtures")
    }

    /// The package root, found from this source file's location.
    public static var packageRoot: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }

    /// The bundled example model repository.
    public static var exampleRepository: URL {
        packageRoot.appendingPathComponent("Examples/model-repository")
    }

    /// The reference cases under `root/reference`, sorted by name; empty when fixtures were not generated.
    public static func referenceCases() -> [ReferenceCase] {
        let folder = root.appendingPathComponent("reference")
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []
        return names.sorted().map { ReferenceCase(name: $0, directory: folder.appendingPathComponent($0)) }
    }
}
