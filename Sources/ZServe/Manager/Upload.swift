import Crypto
import Foundation
import ServingProtocol

/// One model upload in progress: bytes appended in order to a file in the upload directory, hashed as they arrive.
///
/// Owned by the model manager thread.
final class Upload {
    let id: String
    let model: String
    let requestedVersion: Int64
    let labels: [String]
    let metadata: [String: String]
    let warmupInputs: [Zserve_V1_Tensor]
    let directory: URL
    private let expectedDigest: [UInt8]
    private let totalSize: UInt64
    private let handle: FileHandle
    private var hasher = SHA256()
    private(set) var received: UInt64 = 0
    /// Monotonic nanoseconds of the last chunk, for expiring abandoned uploads.
    private(set) var lastActivity = MonotonicClock.nanoseconds

    /// The file the model is written to.
    var file: URL { directory.appendingPathComponent("model.onnx") }

    init(id: String, request: Zserve_V1_PushModelRequest, directory: URL) throws {
        self.id = id
        self.model = request.model
        self.requestedVersion = request.version
        self.labels = request.labels
        self.metadata = request.metadata
        self.warmupInputs = request.warmupInputs
        self.expectedDigest = [UInt8](request.sha256)
        self.totalSize = request.totalSize
        self.directory = directory
        let file = directory.appendingPathComponent("model.onnx")
        try Data().write(to: file, options: .withoutOverwriting)
        handle = try FileHandle(forWritingTo: file)
    }

    deinit { try? handle.close() }

    /// Appends the next chunk.
    ///
    /// - Throws: OUT_OF_RANGE when `offset` is not the number of bytes received so far or the chunk runs past the
    ///   announced size; RESOURCE_EXHAUSTED when the file system is full, UNAVAILABLE when it is read-only, INTERNAL
    ///   when the disk refuses otherwise (`StorageFailure`).
    func append(offset: UInt64, _ data: Data) throws(ServingError) {
        guard offset == received else {
            throw ServingError(.outOfRange, "chunk at offset \(offset), but \(received) bytes were received so far")
        }
        guard UInt64(data.count) <= totalSize - received else {
            throw ServingError(.outOfRange, "chunk ends at \(received + UInt64(data.count)), past the announced \(totalSize) bytes")
        }
        do {
            try handle.write(contentsOf: data)
        } catch {
            throw StorageFailure.servingError("writing the upload failed", error)
        }
        hasher.update(data: data)
        received += UInt64(data.count)
        lastActivity = MonotonicClock.nanoseconds
    }

    /// Checks that every announced byte arrived and matches the checksum, then flushes the file to disk.
    ///
    /// - Throws: DATA_LOSS for a short transfer or a checksum mismatch; RESOURCE_EXHAUSTED, UNAVAILABLE or INTERNAL
    ///   when the disk refuses (`StorageFailure`).
    func finish() throws(ServingError) {
        guard received == totalSize else {
            throw ServingError(.dataLoss, "transfer truncated: \(received) of \(totalSize) bytes received")
        }
        let digest = Array(hasher.finalize())
        guard digest == expectedDigest else {
            throw ServingError(.dataLoss, "sha256 mismatch: received \(digest.hexString), announced \(expectedDigest.hexString)")
        }
        do {
            try handle.synchronize()
            try handle.close()
        } catch {
            throw StorageFailure.servingError("flushing the upload failed", error)
        }
    }

    /// Deletes the upload's directory.
    func discard() {
        try? handle.close()
        try? FileManager.default.removeItem(at: directory)
    }

    /// The announced (after `finish`, verified) SHA-256 of the file.
    var sha256: [UInt8] { expectedDigest }
}
