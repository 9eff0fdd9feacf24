import Dispatch
import Foundation

/// A named OS thread running one blocking loop (a socket owner), which can be joined.
final class ServiceThread: Sendable {
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

    /// Blocks until the thread's body has returned. Call at most once.
    func join() {
        finished.wait()
    }
}
