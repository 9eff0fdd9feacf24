import Foundation
import ServingProtocol
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Why a write to the model repository failed, in the terms a pusher can act on: the file system is full, it is
/// read-only, or something else went wrong.
///
/// Classifies the errors the store's writes throw: Foundation's file errors (a `CocoaError` code, or the POSIX error
/// underneath it), `POSIXError`, and `ModelStoreError.io` carrying an errno.
enum StorageFailure: Equatable {
    /// No space or no inodes left (ENOSPC), or a quota reached (EDQUOT).
    case full
    /// The file system is mounted read-only (EROFS).
    case readOnly
    case other

    init(_ error: any Error) {
        self.init(errno: Self.errno(of: error))
    }

    init(errno code: Int32) {
        switch code {
        case ENOSPC, EDQUOT: self = .full
        case EROFS: self = .readOnly
        default: self = .other
        }
    }

    /// The status a refused push gets: RESOURCE_EXHAUSTED for a full file system (as gRPC defines it), UNAVAILABLE
    /// for a read-only one (the push may succeed once an operator makes the repository writable again), INTERNAL
    /// otherwise. `what` says what failed; the message adds the reason.
    static func servingError(_ what: String, _ error: any Error) -> ServingError {
        let reason = (error as? ModelStoreError)?.description ?? error.localizedDescription
        switch StorageFailure(error) {
        case .full: return ServingError(.resourceExhausted, "\(what): the model repository's file system is full (\(reason))")
        case .readOnly: return ServingError(.unavailable, "\(what): the model repository's file system is read-only (\(reason))")
        case .other: return ServingError(.internal, "\(what): \(reason)")
        }
    }

    /// The errno `error` carries (ENOSPC or EROFS for Foundation's out-of-space and read-only codes), 0 when none.
    static func errno(of error: any Error) -> Int32 {
        errno(of: error, depth: 0)
    }

    private static func errno(of error: any Error, depth: Int) -> Int32 {
        if case ModelStoreError.io(_, let code) = error { return code }
        if let posix = error as? POSIXError { return posix.code.rawValue }
        let error = error as NSError
        if error.domain == NSPOSIXErrorDomain { return Int32(truncatingIfNeeded: error.code) }
        // Foundation keeps the errno in the underlying error; the depth bound guards against a cycle.
        if depth < 4, let underlying = error.userInfo[NSUnderlyingErrorKey] as? any Error {
            let code = errno(of: underlying, depth: depth + 1)
            if code != 0 { return code }
        }
        if error.domain == NSCocoaErrorDomain {
            switch CocoaError.Code(rawValue: error.code) {
            case .fileWriteOutOfSpace: return ENOSPC
            case .fileWriteVolumeReadOnly: return EROFS
            default: break
            }
        }
        return 0
    }
}
