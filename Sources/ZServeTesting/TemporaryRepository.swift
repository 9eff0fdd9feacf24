import Foundation

/// A model repository in a fresh temporary directory, removed when the value is deinitialized.
public final class TemporaryRepository: Sendable {
    public let root: URL

    public init() throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("zserve-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(at: root) }

    /// Writes `bytes` as `<root>/<name>/<version>/model.onnx`.
    public func add(_ name: String, version: Int64 = 1, bytes: Data) throws {
        let folder = root.appendingPathComponent(name).appendingPathComponent(String(version))
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try bytes.write(to: folder.appendingPathComponent("model.onnx"))
    }

    /// Copies an ONNX file into the repository as `name`/`version`.
    public func add(_ name: String, version: Int64 = 1, copying file: URL) throws {
        try add(name, version: version, bytes: try Data(contentsOf: file))
    }
}
