import Foundation

/// The model repository on disk: `<root>/<model>/<version>/model.onnx`, version a positive integer.
///
/// The disk is the source of truth: a restart serves what it holds. Entries that do not follow the layout
/// (hidden folders, non-numeric versions, missing model.onnx) are skipped.
public struct ModelRepository: Sendable {
    public let root: URL

    public init(root: URL) {
        self.root = root
    }

    /// Whether `name` is acceptable as a model name: 1–128 characters of letters, digits, `_`, `-`, `.`, not starting
    /// with `.` — so it can never escape the repository as a path.
    public static func isValidModelName(_ name: String) -> Bool {
        guard (1...128).contains(name.count), !name.hasPrefix(".") else { return false }
        return name.unicodeScalars.allSatisfy { scalar in
            scalar.isASCII && (CharacterSet.alphanumerics.contains(scalar) || "_-.".unicodeScalars.contains(scalar))
        }
    }

    /// Every model and its version numbers, ascending.
    ///
    /// - Throws: when the root itself cannot be read.
    public func scan() throws -> [String: [Int64]] {
        let files = FileManager.default
        var result: [String: [Int64]] = [:]
        for name in try files.contentsOfDirectory(atPath: root.path) where Self.isValidModelName(name) {
            let modelDirectory = root.appendingPathComponent(name)
            guard let entries = try? files.contentsOfDirectory(atPath: modelDirectory.path) else { continue }
            let versions = entries.compactMap { entry -> Int64? in
                guard let version = Int64(entry), version > 0, String(version) == entry else { return nil }
                return files.fileExists(atPath: modelFile(name, version).path) ? version : nil
            }
            if !versions.isEmpty { result[name] = versions.sorted() }
        }
        return result
    }

    /// The ONNX file of one version.
    public func modelFile(_ name: String, _ version: Int64) -> URL {
        root.appendingPathComponent(name).appendingPathComponent(String(version)).appendingPathComponent("model.onnx")
    }
}
