import Foundation
import ServingProtocol
import Testing
@testable import ZServe
#if canImport(Glibc)
import Glibc
#endif

/// How a failed write to the repository is reported to a pusher: full → RESOURCE_EXHAUSTED, read-only → UNAVAILABLE,
/// anything else → INTERNAL, whichever way the errno arrives (Tests/python/test_faults.py injects the real faults).
@Suite struct StorageFailureTests {
    @Test func errnoFromEachKindOfError() {
        #expect(StorageFailure(POSIXError(.ENOSPC)) == .full)
        #expect(StorageFailure(POSIXError(.EDQUOT)) == .full)
        #expect(StorageFailure(POSIXError(.EROFS)) == .readOnly)
        #expect(StorageFailure(POSIXError(.EACCES)) == .other)
        #expect(StorageFailure(ModelStoreError.io("fsync x: errno 28", errno: ENOSPC)) == .full)
        #expect(StorageFailure(ModelStoreError.io("no errno")) == .other)
        #expect(StorageFailure(CocoaError(.fileWriteOutOfSpace)) == .full)
        #expect(StorageFailure(CocoaError(.fileWriteVolumeReadOnly)) == .readOnly)
        let wrapped = NSError(domain: NSCocoaErrorDomain, code: CocoaError.fileWriteUnknown.rawValue, userInfo: [
            NSUnderlyingErrorKey: NSError(domain: NSPOSIXErrorDomain, code: Int(EROFS)),
        ])
        #expect(StorageFailure(wrapped) == .readOnly, "the errno underneath a generic Foundation error")
        #expect(StorageFailure(CocoaError(.fileWriteUnknown)) == .other)
    }

    @Test func statusOfEachFailure() {
        #expect(StorageFailure.servingError("writing", POSIXError(.ENOSPC)).code == .resourceExhausted)
        #expect(StorageFailure.servingError("writing", POSIXError(.EROFS)).code == .unavailable)
        let other = StorageFailure.servingError("writing", ModelStoreError.io("open x: errno 5", errno: EIO))
        #expect(other == ServingError(.internal, "writing: repository I/O failed: open x: errno 5"))
    }
}
