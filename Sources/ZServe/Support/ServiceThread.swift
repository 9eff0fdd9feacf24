import Dispatch
import Foundation
import Synchronization

/// A named OS thread running one blocking loop (a socket owner), which can be joined.
public final class ServiceThread: Sendable {
    private let finished = DispatchSemaphore(value: 0)

    /// Starts `body` on a new thread at once.
    init(name: String, _ body: @escaping @Sendable () -> Void) {
        let finished = self.finished
        let thread = Thread {
            body()
            finished.signal()
        }
        thread.name = name
        thread.stackSize = 8 << 20
        thread.start()
    }

    /// Blocks until the thread's body has returned; returns at once on later calls.
    public func join() {
        finished.wait()
        finished.signal()
    }

    /// Starts a thread that builds a thread-confined resource (sockets, a manager), reports back, then runs on it.
    ///
    /// - Parameters:
    ///   - setup: runs first on the new thread; its error is rethrown here and the thread ends.
    ///   - body: runs next on the same thread with the resource; the resource never leaves that thread.
    /// - Returns: the thread and what `setup` reported, once `setup` has finished.
    static func start<Resource, Report: Sendable>(
        name: String, setup: @escaping @Sendable () throws -> (Resource, Report),
        body: @escaping @Sendable (Resource) -> Void
    ) throws -> (ServiceThread, Report) {
        let outcome = Mutex<Result<Report, Error>?>(nil)
        let ready = DispatchSemaphore(value: 0)
        let thread = ServiceThread(name: name) {
            let resource: Resource
            do {
                let (built, report) = try setup()
                resource = built
                outcome.withLock { $0 = .success(report) }
            } catch {
                outcome.withLock { $0 = .failure(error) }
                ready.signal()
                return
            }
            ready.signal()
            body(resource)
        }
        ready.wait()
        return (thread, try outcome.withLock { $0! }.get())
    }
}
