#if canImport(Glibc)
import Glibc
#endif

/// Scheduling priority of service threads.
enum ThreadPriority {
    /// Nice value of the model manager's thread: loading, checking and warming up a new version yields the cores to
    /// the threads serving requests (the kernel weights nice 10 at about a tenth of nice 0), so a swap does not show
    /// in the serving latency.
    static let background: Int32 = 10

    /// Lowers the calling thread's priority to `niceness`. On Linux a thread is its own task with its own nice value,
    /// and `setpriority(PRIO_PROCESS, 0, …)` changes only the calling thread's (setpriority(2), NOTES); elsewhere this
    /// does nothing. A failure leaves the priority as it was.
    static func lowerCurrentThread(to niceness: Int32) {
        #if os(Linux)
        _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, niceness)
        #endif
    }
}
