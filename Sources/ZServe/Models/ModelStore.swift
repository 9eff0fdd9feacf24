import Foundation

/// Why the store could not read or write the repository.
public enum ModelStoreError: Error, CustomStringConvertible, Equatable {
    case invalidConfiguration(String)
    /// A file operation failed; `errno` is the system's error number when known (0 otherwise).
    case io(String, errno: Int32 = 0)
    case versionExists(String, Int64)

    public var description: String {
        switch self {
        case .invalidConfiguration(let message): "invalid configuration: \(message)"
        case .io(let message, _): "repository I/O failed: \(message)"
        case .versionExists(let model, let version): "model '\(model)' already has a version \(version)"
        }
    }
}

/// Labels and rollback state of one model, kept in `<repo>/<model>/serving.json` so a restart serves the same way.
public struct ServingState: Codable, Equatable, Sendable {
    public var defaultVersion: Int64?
    public var labels: [String: LabelTarget] = [:]

    enum CodingKeys: String, CodingKey {
        case defaultVersion = "default_version"
        case labels
    }
}

/// A file's size and modification time: a changed fingerprint means the file was rewritten.
struct FileFingerprint: Equatable {
    let size: Int
    let modified: Date
}

/// The repository's disk side beyond reading versions: uploads in progress, atomic commits of new versions, and the
/// per-model configuration and serving state files.
///
/// A commit renames a complete, fsynced upload directory into `<repo>/<model>/<version>`, so a crash at any moment
/// leaves complete versions only; uploads left by a crash are removed at start. Not thread-safe: the model manager
/// thread owns it.
struct ModelStore {
    let repository: ModelRepository
    private let files = FileManager.default

    init(repository: ModelRepository) {
        self.repository = repository
    }

    /// Where uploads are staged: inside the repository (same filesystem, so commits are renames), under a name no
    /// model can have.
    var uploadsRoot: URL { repository.root.appendingPathComponent(".zserve-uploads") }

    /// Removes uploads a previous run left behind.
    func removeStaleUploads() throws {
        if files.fileExists(atPath: uploadsRoot.path) {
            try files.removeItem(at: uploadsRoot)
        }
    }

    /// Removes the uploads folder when nothing is staged in it, so the repository looks as before.
    func removeUploadsFolderIfEmpty() {
        if let entries = try? files.contentsOfDirectory(atPath: uploadsRoot.path), entries.isEmpty {
            try? files.removeItem(at: uploadsRoot)
        }
    }

    /// A fresh, empty directory for one upload.
    func makeUploadDirectory(id: String) throws -> URL {
        let directory = uploadsRoot.appendingPathComponent(id)
        try files.createDirectory(at: directory, withIntermediateDirectories: true)
        return directory
    }

    /// Whether `<repo>/<model>/<version>` exists (complete or not).
    func versionExists(_ model: String, _ version: Int64) -> Bool {
        files.fileExists(atPath: versionDirectory(model, version).path)
    }

    /// One more than the highest version directory of `model` (1 for a new model).
    func nextVersion(of model: String) -> Int64 {
        let entries = (try? files.contentsOfDirectory(atPath: modelDirectory(model).path)) ?? []
        return (entries.compactMap { Int64($0) }.filter { $0 > 0 }.max() ?? 0) + 1
    }

    /// Moves a complete upload directory into place as `<repo>/<model>/<version>`, durably.
    ///
    /// - Throws: `.versionExists` when the version is already there, `.io` when the disk refuses.
    func commit(upload directory: URL, model: String, version: Int64) throws {
        let target = versionDirectory(model, version)
        guard !versionExists(model, version) else { throw ModelStoreError.versionExists(model, version) }
        do {
            for file in try files.contentsOfDirectory(atPath: directory.path) {
                try FileSync.sync(path: directory.appendingPathComponent(file).path)
            }
            try FileSync.sync(path: directory.path)
            let modelDirectory = modelDirectory(model)
            if !files.fileExists(atPath: modelDirectory.path) {
                try files.createDirectory(at: modelDirectory, withIntermediateDirectories: false)
                try FileSync.sync(path: repository.root.path)
            }
            try files.moveItem(at: directory, to: target)
            try FileSync.sync(path: modelDirectory.path)
            removeUploadsFolderIfEmpty()
        } catch let error as ModelStoreError {
            throw error
        } catch {
            throw ModelStoreError.io("\(error.localizedDescription)", errno: StorageFailure.errno(of: error))
        }
    }

    /// The bytes of `<repo>/<model>/config.json`, nil when there is none.
    func configData(of model: String) -> Data? {
        files.contents(atPath: modelDirectory(model).appendingPathComponent("config.json").path)
    }

    /// Size and modification time of the model's config.json, nil when there is none.
    func configFingerprint(of model: String) -> FileFingerprint? {
        fingerprint(of: modelDirectory(model).appendingPathComponent("config.json"))
    }

    /// The model's saved labels and pinned default; empty when none were saved.
    func servingState(of model: String) throws -> ServingState {
        let file = modelDirectory(model).appendingPathComponent("serving.json")
        guard let data = files.contents(atPath: file.path) else { return ServingState() }
        do {
            return try JSONDecoder().decode(ServingState.self, from: data)
        } catch {
            throw ModelStoreError.invalidConfiguration("serving.json of '\(model)': \(error)")
        }
    }

    /// Saves the model's labels and pinned default, replacing the file atomically.
    func saveServingState(_ state: ServingState, of model: String) throws {
        let directory = modelDirectory(model)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        // Staged under the uploads folder (same filesystem, removed at start), so a crash leaves no stray file.
        let temporary = uploadsRoot.appendingPathComponent("serving-\(UUID().uuidString).json")
        do {
            try files.createDirectory(at: uploadsRoot, withIntermediateDirectories: true)
            try encoder.encode(state).write(to: temporary)
            try FileSync.sync(path: temporary.path)
            try FileSync.replace(directory.appendingPathComponent("serving.json").path, with: temporary.path)
            try FileSync.sync(path: directory.path)
            removeUploadsFolderIfEmpty()
        } catch {
            try? files.removeItem(at: temporary)
            throw ModelStoreError.io("saving serving.json of '\(model)': \(error)")
        }
    }

    /// Size and modification time of a version's model file, or nil when it is missing.
    func fingerprint(_ model: String, _ version: Int64) -> FileFingerprint? {
        fingerprint(of: repository.modelFile(model, version))
    }

    private func fingerprint(of file: URL) -> FileFingerprint? {
        guard let attributes = try? files.attributesOfItem(atPath: file.path),
              let size = attributes[.size] as? Int, let modified = attributes[.modificationDate] as? Date
        else { return nil }
        return FileFingerprint(size: size, modified: modified)
    }

    private func modelDirectory(_ model: String) -> URL {
        repository.root.appendingPathComponent(model)
    }

    private func versionDirectory(_ model: String, _ version: Int64) -> URL {
        modelDirectory(model).appendingPathComponent(String(version))
    }
}
