import Foundation
import Logging
import ServiceLifecycle
import UnixSignals
import ZServe

/// A `Server` as a swift-service-lifecycle service: starts it, serves until graceful shutdown (then drains and
/// stops it) or until the broker fails (then stops it and throws, so the group ends and the process exits 1).
///
/// `Server.start` loads models and `Server.stop` drains and joins threads; both block, so they run on a thread of
/// their own rather than on the concurrency pool.
struct ServerService: Service {
    private let server: Server
    private let failures: AsyncStream<any Error>
    private let onReady: @Sendable (Server.Endpoints) -> Void

    init(configuration: ServerConfiguration, logger: Logger, onReady: @escaping @Sendable (Server.Endpoints) -> Void) throws {
        let (failures, continuation) = AsyncStream<any Error>.makeStream()
        self.failures = failures
        self.onReady = onReady
        server = try Server(configuration: configuration, logger: logger, onBrokerFailure: { error in
            continuation.yield(error)
            continuation.finish()
        })
    }

    func run() async throws {
        let endpoints = try await Self.blocking { [server] in try server.start() }
        onReady(endpoints)
        // SIGHUP re-reads the allowed keys (its default action would end the process).
        let hangups = Task { [server] in
            for await _ in await UnixSignalsSequence(trapping: .sighup) { server.reloadKeys() }
        }
        defer { hangups.cancel() }
        let failure = await cancelWhenGracefulShutdown { [failures] () -> (any Error)? in
            for await failure in failures { return failure }
            return nil
        }
        await Self.blocking { [server] in server.stop() }
        if let failure { throw failure }
    }

    /// Runs `body` on a new thread and resumes with its result.
    private static func blocking<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            Thread.detachNewThread { continuation.resume(with: Result { try body() }) }
        }
    }

    private static func blocking(_ body: @escaping @Sendable () -> Void) async {
        await withCheckedContinuation { continuation in
            Thread.detachNewThread {
                body()
                continuation.resume()
            }
        }
    }
}

/// Exits the process at once on a second SIGTERM or SIGINT, while the first one's graceful shutdown is still
/// draining. Listed first in the service group, so it is shut down last, after the server has stopped.
struct SecondSignalExit: Service {
    let logger: Logger

    func run() async {
        let signals = await UnixSignalsSequence(trapping: .sigterm, .sigint)
        await cancelWhenGracefulShutdown { [logger] in
            var received = 0
            for await signal in signals {
                received += 1
                guard received >= 2 else { continue }
                logger.warning("second signal: exiting without finishing accepted requests", metadata: ["signal": "\(signal)"])
                exit(128 + signal.rawValue)
            }
        }
    }
}
