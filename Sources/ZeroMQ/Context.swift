import CZeroMQ
import Synchronization

/// A libzmq context: the owner of I/O threads and the scope of `inproc://` endpoints.
///
/// Thread-safe (libzmq guarantees this for contexts), hence `Sendable`. Every `Socket` keeps its context alive; the
/// context is terminated when the last reference goes away or on `terminate()`, which blocks until every socket of the
/// context is closed. Call `shutdown()` first to make blocking calls in other threads fail with `ETERM`, so that their
/// owners close their sockets.
public final class Context: Sendable {
    /// The `void *` libzmq handle. Safe to share: libzmq contexts are thread-safe.
    nonisolated(unsafe) let handle: UnsafeMutableRawPointer
    private let terminated = Mutex(false)

    /// Creates a context with `ioThreads` background I/O threads.
    public init(ioThreads: Int32 = 1) throws {
        guard let handle = zmq_ctx_new() else { throw ZMQError.last }
        self.handle = handle
        if zmq_ctx_set(handle, ZMQ_IO_THREADS, ioThreads) != 0 {
            let error = ZMQError.last
            zmq_ctx_term(handle)
            throw error
        }
    }

    /// Makes every blocking operation on this context's sockets return `ETERM`; new sockets cannot be opened.
    /// Does not wait. Safe to call from any thread, more than once.
    public func shutdown() {
        terminated.withLock { done in
            if !done { zmq_ctx_shutdown(handle) }
        }
    }

    /// Terminates the context, blocking until every socket opened on it has been closed. Idempotent.
    public func terminate() {
        let alreadyDone = terminated.withLock { done in
            defer { done = true }
            return done
        }
        if alreadyDone { return }
        while zmq_ctx_term(handle) != 0 && zmq_errno() == EINTR {}
    }

    deinit {
        // Sockets retain their context, so no socket is left open by the time this runs.
        let done = terminated.withLock { $0 }
        if !done { while zmq_ctx_term(handle) != 0 && zmq_errno() == EINTR {} }
    }

    /// The libzmq version this process runs against, e.g. (4, 3, 4).
    public static var libraryVersion: (major: Int32, minor: Int32, patch: Int32) {
        var major: Int32 = 0, minor: Int32 = 0, patch: Int32 = 0
        zmq_version(&major, &minor, &patch)
        return (major, minor, patch)
    }

    /// Whether libzmq was built with a capability such as `"curve"` or `"ipc"`.
    public static func has(_ capability: String) -> Bool {
        zmq_has(capability) == 1
    }
}
