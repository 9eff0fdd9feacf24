import Crypto
import Foundation

/// SHA-256 of files, read in chunks (never the whole file in memory).
enum FileDigest {
    static let chunkSize = 1 << 20

    /// The digest and size of `file`.
    ///
    /// - Throws: when the file cannot be opened or read.
    static func sha256(of file: URL) throws -> (digest: [UInt8], size: UInt64) {
        let handle = try FileHandle(forReadingFrom: file)
        defer { try? handle.close() }
        var hasher = SHA256()
        var size: UInt64 = 0
        while let chunk = try handle.read(upToCount: chunkSize), !chunk.isEmpty {
            hasher.update(data: chunk)
            size += UInt64(chunk.count)
        }
        return (Array(hasher.finalize()), size)
    }
}
