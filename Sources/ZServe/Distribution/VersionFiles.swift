import Foundation
import ServingProtocol

/// Reads parts of served versions' files by digest, for remote workers fetching them. The broker core's seam for
/// file access (tests substitute bytes in memory).
protocol VersionFiles {
    /// `length` bytes (fewer at the end of the file) from `offset` of the available version's file with `sha256`.
    ///
    /// - Returns: the bytes, or why they cannot be read (no served version has that file, an offset past its end,
    ///   an I/O error).
    func read(sha256: [UInt8], offset: UInt64, length: UInt32) -> Result<[UInt8], ServingError>
}

/// The server's version files, found through the registry (`Servable.source`). Keeps the last file open, since a
/// worker reads one file chunk after chunk. Used on the broker thread only.
final class RegistryVersionFiles: VersionFiles {
    private let registry: ModelRegistry
    private var open: (sha256: [UInt8], handle: FileHandle)?

    init(registry: ModelRegistry) {
        self.registry = registry
    }

    deinit { try? open?.handle.close() }

    func read(sha256: [UInt8], offset: UInt64, length: UInt32) -> Result<[UInt8], ServingError> {
        guard let source = registry.source(sha256: sha256) else {
            return .failure(ServingError(.notFound, "no served version has a file with sha256 \(sha256.hexString)"))
        }
        guard offset < source.size else {
            return .failure(ServingError(.outOfRange, "offset \(offset) is past the file's \(source.size) bytes"))
        }
        do {
            let handle: FileHandle
            if let open, open.sha256 == sha256 {
                handle = open.handle
            } else {
                try? open?.handle.close()
                open = nil
                handle = try FileHandle(forReadingFrom: source.file)
                open = (sha256, handle)
            }
            try handle.seek(toOffset: offset)
            let wanted = Int(min(UInt64(length), source.size - offset))
            let bytes = try handle.read(upToCount: wanted) ?? Data()
            guard bytes.count == wanted else {
                return .failure(ServingError(.dataLoss, "the file of sha256 \(sha256.hexString) is shorter than served"))
            }
            return .success([UInt8](bytes))
        } catch {
            try? open?.handle.close()
            open = nil
            return .failure(ServingError(.internal, "reading \(source.file.path): \(error)"))
        }
    }
}
