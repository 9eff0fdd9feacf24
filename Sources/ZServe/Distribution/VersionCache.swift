import Crypto
import Foundation

/// A worker's local cache of model files fetched from servers: content-addressed (`<dir>/<sha256>.onnx`), written
/// through a staging folder (`<dir>/.staging/`) and renamed into place only once complete, verified and flushed, so
/// the cache never holds a partial file under a final name.
///
/// Holds no state but its location; `CachedModels` keeps one transfer per file at a time.
final class VersionCache: Sendable {
    let directory: URL
    private var staging: URL { directory.appendingPathComponent(".staging", isDirectory: true) }
    private var files: FileManager { FileManager.default }

    /// Opens (creating if needed) the cache at `directory` and removes what an interrupted fetch left in staging.
    ///
    /// - Throws: when the directory cannot be created.
    init(directory: URL) throws {
        self.directory = directory
        try files.createDirectory(at: directory, withIntermediateDirectories: true)
        try? files.removeItem(at: staging)
        try files.createDirectory(at: staging, withIntermediateDirectories: true)
    }

    /// Where a file with this digest lives once complete.
    func file(_ sha256: [UInt8]) -> URL { directory.appendingPathComponent(sha256.hexString + ".onnx") }

    /// Whether a complete file with this digest is cached (not yet verified: `CachedModels` hashes it before use).
    func contains(_ sha256: [UInt8]) -> Bool { files.fileExists(atPath: file(sha256).path) }

    /// Deletes the cached file with this digest, if any.
    func remove(_ sha256: [UInt8]) { try? files.removeItem(at: file(sha256)) }

    /// Starts writing a file of `size` bytes expected to hash to `sha256`.
    ///
    /// - Throws: when the staging file cannot be created.
    func beginDownload(sha256: [UInt8], size: UInt64) throws -> Download {
        try Download(sha256: sha256, size: size, staging: staging.appendingPathComponent(sha256.hexString + ".part"), target: file(sha256))
    }

    /// One file being received in order: appended, hashed, then verified and renamed into the cache.
    final class Download {
        let sha256: [UInt8]
        let size: UInt64
        private let staging: URL
        private let target: URL
        private let handle: FileHandle
        private var hasher = SHA256()
        private(set) var received: UInt64 = 0

        fileprivate init(sha256: [UInt8], size: UInt64, staging: URL, target: URL) throws {
            self.sha256 = sha256
            self.size = size
            self.staging = staging
            self.target = target
            try? FileManager.default.removeItem(at: staging)
            try Data().write(to: staging)
            handle = try FileHandle(forWritingTo: staging)
        }

        deinit { try? handle.close() }

        /// Appends the bytes at `offset`, which must be where the file ends now.
        ///
        /// - Throws: `DownloadError` for an out-of-place or over-long chunk, or the write's error.
        func append(offset: UInt64, _ bytes: [UInt8]) throws {
            guard offset == received else { throw DownloadError("chunk at \(offset), expected \(received)") }
            guard UInt64(bytes.count) <= size - received else { throw DownloadError("chunk runs past \(size) bytes") }
            try handle.write(contentsOf: bytes)
            hasher.update(data: bytes)
            received += UInt64(bytes.count)
        }

        var isComplete: Bool { received == size }

        /// Verifies the digest, flushes and renames the file into the cache; returns its final location.
        ///
        /// - Throws: `DownloadError` on a digest mismatch (the staged file is deleted), or the file system's error.
        func commit() throws -> URL {
            let digest = Array(hasher.finalize())
            guard digest == sha256 else {
                discard()
                throw DownloadError("sha256 mismatch: received \(digest.hexString), announced \(sha256.hexString)")
            }
            try handle.synchronize()
            try handle.close()
            try FileSync.replace(target.path, with: staging.path)
            try FileSync.sync(path: target.deletingLastPathComponent().path)
            return target
        }

        /// Deletes the staged bytes.
        func discard() {
            try? handle.close()
            try? FileManager.default.removeItem(at: staging)
        }
    }

    struct DownloadError: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }
}
