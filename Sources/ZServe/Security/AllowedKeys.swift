import Foundation
import Logging
import Synchronization
import ZeroMQ

/// The client public keys allowed on one endpoint: the `*.pub` files of a directory, re-read whenever a file is
/// added, removed or changed (checked at each new connection, which is rare) or when `reload()` is called.
///
/// A file that is not a key is logged once and skipped. Thread-safe: the ZAP handler checks keys on its thread
/// while a SIGHUP handler may reload.
public final class AllowedKeys: Sendable {
    public let directory: URL
    private let logger: Logger
    private let state = Mutex<(fingerprint: [String], keys: [String: String])>(([], [:]))

    public init(directory: URL, logger: Logger) {
        self.directory = directory
        self.logger = logger
    }

    /// The name a key is allowed under (its file's name without `.pub`), or nil when it is not allowed.
    public func name(of publicKey: String) -> String? {
        refreshIfChanged()
        return state.withLock { $0.keys[publicKey] }
    }

    /// Re-reads the directory now; returns how many keys it allows.
    @discardableResult
    public func reload() -> Int {
        let (fingerprint, files) = scan()
        let keys = read(files)
        state.withLock { $0 = (fingerprint, keys) }
        return keys.count
    }

    private func refreshIfChanged() {
        let (fingerprint, files) = scan()
        guard fingerprint != state.withLock({ $0.fingerprint }) else { return }
        let keys = read(files)
        state.withLock { $0 = (fingerprint, keys) }
        logger.notice("allowed keys re-read", metadata: ["directory": "\(directory.path)", "keys": "\(keys.count)"])
    }

    /// The `*.pub` files and a fingerprint of their names, sizes and modification times.
    private func scan() -> (fingerprint: [String], files: [URL]) {
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? [])
            .filter { $0.hasSuffix(".pub") }.sorted()
        let files = names.map { directory.appendingPathComponent($0) }
        let fingerprint = files.map { file -> String in
            var info = stat()
            guard stat(file.path, &info) == 0 else { return file.lastPathComponent }
            return "\(file.lastPathComponent) \(info.st_size) \(info.st_mtim.tv_sec).\(info.st_mtim.tv_nsec)"
        }
        return (fingerprint, files)
    }

    private func read(_ files: [URL]) -> [String: String] {
        var keys: [String: String] = [:]
        for file in files {
            do {
                keys[try CurveCertificate.readPublic(file.path)] = file.deletingPathExtension().lastPathComponent
            } catch {
                logger.warning("ignoring a file that is not a public key", metadata: ["error": "\(error)"])
            }
        }
        return keys
    }
}
