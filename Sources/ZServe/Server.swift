import Foundation
import Inference
import Logging
import Synchronization
import ZeroMQ

/// A running ZServe: model registry, broker thread and worker threads on one ZeroMQ context.
///
/// `start()` loads the repository's newest versions, binds the sockets and starts the threads; `stop()` drains and
/// joins them. Thread-safe: `start` and `stop` may be called from any thread and are serialized, so a stop that
/// arrives while models are still loading waits for the start to finish, then stops.
public final class Server: Sendable {
    /// The endpoints the server is bound to, with real port numbers.
    public struct Endpoints: Sendable {
        public let frontend: String
        public let admin: String?
    }

    private enum Phase {
        case idle, running, stopped
    }

    public let configuration: ServerConfiguration
    public let registry: ModelRegistry
    private let logger: Logger
    private let context: Context
    private let instanceID = UInt64.random(in: 0...UInt64.max)
    /// Held for the whole of `start` and `stop`.
    private let lifecycle = Mutex<Phase>(.idle)
    private let threads = Mutex<[ServiceThread]>([])
    private let onBrokerFailure: @Sendable (Error) -> Void

    /// - Parameter onBrokerFailure: called (on the broker thread) if the broker loop fails, after it closed its
    ///   sockets: the server no longer serves and the owner should stop it and exit.
    public init(
        configuration: ServerConfiguration, logger: Logger = Logger(label: "zserve"),
        onBrokerFailure: @escaping @Sendable (Error) -> Void = { _ in }
    ) throws {
        self.configuration = configuration
        self.logger = logger
        self.registry = ModelRegistry()
        self.context = try Context()
        self.onBrokerFailure = onBrokerFailure
    }

    private var backendEndpoint: String { "inproc://zserve-workers-\(instanceID)" }
    private var controlEndpoint: String { "inproc://zserve-control-\(instanceID)" }

    /// Loads models, binds the frontend (and admin) sockets and starts the broker and worker threads.
    ///
    /// - Returns: the bound endpoints.
    /// - Throws: when the server was already started or stopped, the repository cannot be read or an endpoint cannot
    ///   be bound. Models that fail to load do not throw: they are recorded as FAILED and the others serve.
    public func start() throws -> Endpoints {
        try lifecycle.withLock { phase in
            guard phase == .idle else { throw ServerError.alreadyStarted }
            BLAS.setThreadCount(configuration.blasThreads)
            try VersionLoader(repository: ModelRepository(root: configuration.repository), logger: logger)
                .loadNewestVersions(into: registry)
            let endpoints = try startBroker()
            for index in 0..<configuration.workers {
                let worker = Worker(context: context, brokerEndpoint: backendEndpoint, registry: registry, logger: logger)
                let thread = ServiceThread(name: "zserve-worker-\(index)") { worker.run() }
                threads.withLock { $0.append(thread) }
            }
            phase = .running
            logger.info("serving", metadata: [
                "frontend": "\(endpoints.frontend)", "admin": "\(endpoints.admin ?? "none")",
                "workers": "\(configuration.workers)", "blas_threads": "\(configuration.blasThreads)",
            ])
            return endpoints
        }
    }

    /// Builds the broker on its own thread (sockets belong to the thread that uses them) and waits for its endpoints.
    private func startBroker() throws -> Endpoints {
        let started = Mutex<Result<Endpoints, Error>?>(nil)
        let ready = DispatchSemaphore(value: 0)
        let thread = ServiceThread(name: "zserve-broker") {
            [context, configuration, registry, logger, backendEndpoint, controlEndpoint, onBrokerFailure] in
            let broker: Broker
            do {
                broker = try Broker(
                    context: context, configuration: configuration, backendEndpoint: backendEndpoint,
                    controlEndpoint: controlEndpoint, registry: registry, logger: logger)
            } catch {
                started.withLock { $0 = .failure(error) }
                ready.signal()
                return
            }
            started.withLock { $0 = .success(broker.endpoints) }
            ready.signal()
            do {
                try broker.run()
            } catch {
                logger.critical("broker failed", metadata: ["error": "\(error)"])
                onBrokerFailure(error)
            }
        }
        ready.wait()
        let endpoints = try started.withLock { $0! }.get()
        threads.withLock { $0.append(thread) }
        return endpoints
    }

    /// Stops serving: no new requests are accepted (they are answered UNAVAILABLE), accepted ones finish within the
    /// drain timeout, then every thread exits and the context is terminated. Blocks until done; later calls return
    /// at once.
    public func stop() {
        lifecycle.withLock { phase in
            guard phase != .stopped else { return }
            let wasRunning = phase == .running
            phase = .stopped
            if wasRunning {
                requestBrokerStop()
            }
            let all = threads.withLock { $0 }
            all.first?.join()
            context.shutdown()
            for thread in all.dropFirst() { thread.join() }
            context.terminate()
            logger.info("stopped")
        }
    }

    private func requestBrokerStop() {
        guard let socket = try? Socket(context: context, type: .push) else { return }
        socket.linger = 1000
        if (try? socket.connect(controlEndpoint)) != nil {
            _ = try? socket.send([[]])
        }
        socket.close()
    }
}

/// Misuse of a `Server`'s lifecycle.
public enum ServerError: Error, CustomStringConvertible {
    case alreadyStarted

    public var description: String { "the server was already started" }
}
