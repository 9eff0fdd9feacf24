import Dispatch
import Foundation

/// SIGTERM and SIGINT turned into a callback (on a global queue) instead of the default exit, for commands that stop
/// cleanly: `serve` drains, `worker` leaves its broker.
struct TerminationSignals {
    private let sources: [any DispatchSourceSignal]

    /// Ignores the default action of both signals and calls `handler` on each one that arrives.
    init(_ handler: @escaping @Sendable () -> Void) {
        sources = [SIGTERM, SIGINT].map { number in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler(handler: handler)
            source.resume()
            return source
        }
    }

    /// Stops listening.
    func cancel() {
        sources.forEach { $0.cancel() }
    }
}
