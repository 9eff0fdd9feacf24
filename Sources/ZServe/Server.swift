import Foundation
import Inference
import Logging
import Synchronization
import ZeroMQ

/// A running ZServe: model registry, broker thread and worker threads on one ZeroMQ context.
///
/// `start()` loads the repository's newest versions, binds the sockets and starts the threads; `stop()` drains and
/// joins them. Thread-safe: `stop()` may be called from any thread (a signal handler's queue, a test).
public final class Server: Sendable {
    /// The endpoints the server is bound to, with real port numbers.
    public struct Endpoints: Sendable {
        public let frontend: String
        public let admin: String?
    }

    public let configuration: ServerConfiguration
    public let registry: ModelRegistry
    private let logger: Logger
    private let context: Context
    private let instanceID = UInt64.random(in: 0...UInt64.max)
    private let threads = Mutex<[ServiceThread]>([])
    private let stopped = Mutex(false)

    public init(configuration: ServerConfiguration, logger: Logger = Logger(label: "zserve")) throws {
        self.configuration = configuration
        self.logger = logger
        self.registry = ModelRegistry()
        self.context = try Context()
    }

    private var backendEndpoint: String { "inproc://zserve-workers-\(instanceID)" }
    private var controlEndpoint: String { "inproc://zserve-control-\(instanceID)" }

    /// Loads models, binds the frontend (and admin) sockets and starts the broker and worker threads.
    ///
    /// - Returns: the bound endpoints.
    /// - Throws: when the repository cannot be read or an endpoint cannot be bound. Models that fail to load do not
    ///   throw: they are recorded as FAILED and the others serve.
    public func start() throws -> Endpoints {
        BLAS.setThreadCount(configuration.blasThreads)
        try VersionLoader(repository: ModelRepository(root: configuration.repository), logger: logger)
            .loadNewestVersions(into: registry)

        let workerCount = configuration.workers
        // Sockets belong to the thread that uses them, so the broker is built on its own thread and reports back.
        let started = Mutex<Result<Broker.Endpoints, Error>?>(nil)
        let ready = DispatchSemaphore(value: 0)
        let brokerThread = ServiceThread(name: "zserve-broker") { [context, configuration, registry, logger, backendEndpoint, controlEndpoint] in
            let broker: Broker
            do {
                broker = try Broker(
                    context: context, configuration: configuration, backendEndpoint: backendEndpoint,
                    controlEndpoint: controlEndpoint, registry: registry, workerCount: { workerCount }, logger: logger)
            } catch {
                started.withLock { $0 = .failure(error) }
                ready.signal()
                return
            }
            started.withLock { $0 = .success(broker.endpoints) }
            ready.signal()
            broker.run()
        }
        ready.wait()
        let endpoints = try started.withLock { $0! }.get()
        threads.withLock { $0.append(brokerThread) }

        for index in 0..<workerCount {
            let worker = Worker(context: context, brokerEndpoint: backendEndpoint, registry: registry, logger: logger)
            let thread = ServiceThread(name: "zserve-worker-\(index)") { worker.run() }
            threads.withLock { $0.append(thread) }
        }
        logger.info("serving", metadata: [
            "frontend": "\(endpoints.frontend)", "admin": "\(endpoints.admin ?? "none")",
            "workers": "\(workerCount)", "blas_threads": "\(configuration.blasThreads)",
        ])
        return Endpoints(frontend: endpoints.frontend, admin: endpoints.admin)
    }

    /// Stops serving: no new requests are read, accepted ones finish (up to the drain timeout), then every thread
    /// exits and the context is terminated. Blocks until done; later calls return at once.
    public func stop() {
        let first = stopped.withLock { done in
            defer { done = true }
            return !done
        }
        guard first else { return }
        if let socket = try? Socket(context: context, type: .push) {
            socket.linger = 1000
            if (try? socket.connect(controlEndpoint)) != nil {
                _ = try? socket.send([[]])
            }
            socket.close()
        }
        let all = threads.withLock { $0 }
        all.first?.join()
        context.shutdown()
        for thread in all.dropFirst() { thread.join() }
        context.terminate()
        logger.info("stopped")
    }
}
