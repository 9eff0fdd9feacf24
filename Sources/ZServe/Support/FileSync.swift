#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// fsync for files and directories, so a rename is on disk before it is announced.
enum FileSync {
    /// Renames `source` to `target` atomically, replacing `target` if it exists (POSIX rename).
    ///
    /// - Throws: `ModelStoreError.io` naming the paths and errno.
    static func replace(_ target: String, with source: String) throws {
        guard rename(source, target) == 0 else { throw ModelStoreError.io("rename \(source) to \(target): errno \(errno)", errno: errno) }
    }

    /// Flushes the file or directory at `path` to stable storage.
    ///
    /// - Throws: `ModelStoreError.io` naming the path and errno.
    static func sync(path: String) throws {
        // The descriptor is opened, synced and closed within this call; nothing else sees it.
        let descriptor = open(path, O_RDONLY)
        guard descriptor >= 0 else { throw ModelStoreError.io("open \(path): errno \(errno)", errno: errno) }
        defer { close(descriptor) }
        guard fsync(descriptor) == 0 else { throw ModelStoreError.io("fsync \(path): errno \(errno)", errno: errno) }
    }
}
