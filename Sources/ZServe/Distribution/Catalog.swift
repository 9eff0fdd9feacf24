import Foundation

/// One version of one model: what the broker routes by and what a worker reports ready.
public struct VersionKey: Hashable, Sendable, Comparable, CustomStringConvertible {
    public let model: String
    public let version: Int64

    public init(model: String, version: Int64) {
        self.model = model
        self.version = version
    }

    public static func < (a: VersionKey, b: VersionKey) -> Bool {
        (a.model, a.version) < (b.model, b.version)
    }

    public var description: String { "\(model) v\(version)" }
}

/// A version the server serves, as remote workers learn of it: enough to fetch the file and verify it.
public struct CatalogEntry: Hashable, Sendable {
    public let key: VersionKey
    /// SHA-256 of the model file; also how the file is named in a worker's cache and fetched.
    public let sha256: [UInt8]
    public let size: UInt64

    public init(key: VersionKey, sha256: [UInt8], size: UInt64) {
        self.key = key
        self.sha256 = sha256
        self.size = size
    }

    /// The digest in lower-case hex.
    public var digestHex: String { sha256.hexString }
}

/// Where a served version's file lives on the server, and its digest: what the broker hands remote workers.
public struct VersionSource: Sendable, Equatable {
    public let file: URL
    public let sha256: [UInt8]
    public let size: UInt64

    public init(file: URL, sha256: [UInt8], size: UInt64) {
        self.file = file
        self.sha256 = sha256
        self.size = size
    }

    /// Reads `file` once to hash it.
    ///
    /// - Throws: when the file cannot be read.
    public init(hashing file: URL) throws {
        let (digest, size) = try FileDigest.sha256(of: file)
        self.init(file: file, sha256: digest, size: size)
    }
}

extension Array where Element == UInt8 {
    /// The bytes in lower-case hex.
    var hexString: String {
        map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
    }
}
