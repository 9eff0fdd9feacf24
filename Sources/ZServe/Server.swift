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
        /// Where workers in other processes connect (`zserve worker --connect`), if enabled.
        public let workers: String?
        /// The HTTP listener for `/metrics`, `/healthz` and `/readyz` (`HOST:PORT`), if enabled.
        public var metrics: String?
    }

    private enum Phase {
        case idle, running, stopped
    }

    public let configuration: ServerConfiguration
    public let registry: ModelRegistry
    /// The server's Prometheus series; nil (nothing recorded) without `metricsListen`.
    public let metrics: ServerMetrics?
    /// What the health and readiness probes report.
    public let health = ServerHealth()
    private let metricsEndpoint: MetricsEndpoint?
    /// Allowed client keys by ZAP domain (`admin`, `frontend`, `workers`); empty without CURVE.
    private let allowedKeys: [String: AllowedKeys]
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
        if let admin = configuration.admin, configuration.curve == nil, !configuration.insecureAdmin,
           !ServerConfiguration.isLoopback(admin) {
            throw ServerError.unauthenticatedAdmin(admin)
        }
        self.configuration = configuration
        self.logger = logger
        var allowedKeys: [String: AllowedKeys] = [:]
        if let curve = configuration.curve {
            allowedKeys[ZAPDomain.admin] = curve.adminKeys.map { AllowedKeys(directory: $0, logger: logger) }
            allowedKeys[ZAPDomain.frontend] = curve.frontendKeys.map { AllowedKeys(directory: $0, logger: logger) }
            allowedKeys[ZAPDomain.workers] = curve.workerKeys.map { AllowedKeys(directory: $0, logger: logger) }
        }
        self.allowedKeys = allowedKeys
        self.registry = ModelRegistry(canarySeed: configuration.canarySeed)
        self.context = try Context()
        self.onBrokerFailure = onBrokerFailure
        let metrics = configuration.metricsListen == nil ? nil : ServerMetrics()
        self.metrics = metrics
        metricsEndpoint = try configuration.metricsListen.map { [health, registry] in
            try MetricsEndpoint(listen: $0, metrics: metrics!, health: health, models: registry)
        }
    }

    private var backendEndpoint: String { "inproc://zserve-workers-\(instanceID)" }
    private var controlEndpoint: String { "inproc://zserve-control-\(instanceID)" }
    private var managerEndpoint: String { "inproc://zserve-manager-\(instanceID)" }

    /// Loads models, binds the frontend (and admin) sockets and starts the broker and worker threads.
    ///
    /// - Returns: the bound endpoints.
    /// - Throws: when the server was already started or stopped, the repository cannot be read or an endpoint cannot
    ///   be bound. Models that fail to load do not throw: they are recorded as FAILED and the others serve.
    public func start() throws -> Endpoints {
        try lifecycle.withLock { phase in
            guard phase == .idle else { throw ServerError.alreadyStarted }
            do {
                Parallelism.setThreadCount(Self.blasThreads(configuration, logger: logger))
                let managerThread = try startManager()
                threads.withLock { $0.append(managerThread) }
                if !allowedKeys.isEmpty { try startAuthentication() }
                let workersReady = DispatchSemaphore(value: 0)
                var endpoints = try startBroker(workersReady: workersReady)
                startWorkers(configuration.workers)
                // Ready means every worker can take requests.
                if configuration.workers > 0, workersReady.wait(timeout: .now() + 30) == .timedOut {
                    logger.warning("not every worker announced itself within 30 s; serving anyway")
                }
                endpoints.metrics = try metricsEndpoint?.start()
                health.setServing(true)
                phase = .running
                logger.info("serving", metadata: [
                    "frontend": "\(endpoints.frontend)", "admin": "\(endpoints.admin ?? "none")",
                    "workers": "\(configuration.workers)", "blas_threads": "\(configuration.blasThreads)",
                    "blas_kernels": "\(BLAS.coreName)",
                ])
                return endpoints
            } catch {
                phase = .stopped
                metricsEndpoint?.stop()
                terminateThreads()
                throw error
            }
        }
    }

    /// Threads per model run for the configuration: as asked, unless workers × threads would exceed the cores, when the
    /// threads are cut to fit (at least one).
    static func blasThreads(_ configuration: ServerConfiguration, logger: Logger) -> Int {
        let cores = ProcessInfo.processInfo.activeProcessorCount
        let workers = max(1, configuration.autoscale?.upperBound ?? configuration.workers)
        let fitting = max(1, cores / workers)
        guard configuration.blasThreads > fitting else { return configuration.blasThreads }
        logger.warning("fewer threads per model run than asked, so workers × threads stays within the cores", metadata: [
            "asked": "\(configuration.blasThreads)", "using": "\(fitting)", "workers": "\(workers)", "cores": "\(cores)",
        ])
        return fitting
    }

    /// Starts `count` local worker threads; they announce themselves to the broker. Thread-safe.
    private func startWorkers(_ count: Int) {
        threads.withLock { threads in
            for _ in 0..<count {
                let worker = Worker(
                    context: context, brokerEndpoint: backendEndpoint, registry: registry, heartbeats: false, logger: logger,
                    metrics: metrics, limits: configuration.requestLimits)
                threads.append(ServiceThread(name: "zserve-worker") { [logger] in
                    do {
                        try worker.run()
                    } catch {
                        logger.critical("worker failed", metadata: ["error": "\(error)"])
                    }
                })
            }
        }
    }

    /// Starts the model manager's thread: it loads the repository (before this returns), then serves state changes
    /// from the broker and polls the repository. The manager connects to the broker's endpoint, which may be bound
    /// later (inproc allows that).
    private func startManager() throws -> ServiceThread {
        try ManagerService.start(
            context: context, brokerEndpoint: managerEndpoint, registry: registry,
            repository: ModelRepository(root: configuration.repository),
            limits: ModelManager.limits(configuration), fileLimits: configuration.modelFileLimits,
            pollInterval: configuration.pollInterval, logger: logger,
            metrics: metrics)
    }

    /// Starts the ZAP handler's thread; its socket is bound when this returns, before any CURVE socket binds.
    private func startAuthentication() throws {
        let (thread, _) = try ServiceThread.start(name: "zserve-zap", setup: { [context, allowedKeys, logger] in
            (try ZAPHandler(context: context, allowed: allowedKeys, logger: logger), ())
        }, body: { [logger] handler in
            do {
                try handler.run()
            } catch {
                logger.critical("authentication handler failed; CURVE connections are refused", metadata: ["error": "\(error)"])
            }
        })
        threads.withLock { $0.append(thread) }
    }

    /// Re-reads every directory of allowed client keys now (SIGHUP); they are also re-read when they change.
    public func reloadKeys() {
        ZAPHandler.reload(allowedKeys, logger: logger)
    }

    /// Builds the broker on its own thread (sockets belong to the thread that uses them) and waits for its endpoints.
    private func startBroker(workersReady: DispatchSemaphore) throws -> Endpoints {
        let (thread, endpoints) = try ServiceThread.start(name: "zserve-broker", setup: {
            [context, configuration, registry, logger, backendEndpoint, managerEndpoint, controlEndpoint, metrics, health] in
            let broker = try Broker(
                context: context, configuration: configuration, backendEndpoint: backendEndpoint,
                managerEndpoint: managerEndpoint, controlEndpoint: controlEndpoint, registry: registry,
                workersReady: workersReady, startWorkers: { [weak self] count in self?.startWorkers(count) }, logger: logger,
                metrics: metrics, health: health)
            return (broker, broker.endpoints)
        }, body: { [logger, onBrokerFailure] broker in
            do {
                try broker.run()
            } catch {
                logger.critical("broker failed", metadata: ["error": "\(error)"])
                onBrokerFailure(error)
            }
        })
        threads.withLock { $0.insert(thread, at: 0) }
        return endpoints
    }

    /// Stops serving: no new requests are accepted (they are answered UNAVAILABLE), accepted ones finish within the
    /// drain timeout, then every thread exits and the context is terminated. Blocks until done; later calls return
    /// at once.
    public func stop() {
        lifecycle.withLock { phase in
            guard phase == .running else {
                phase = .stopped
                return
            }
            phase = .stopped
            health.setServing(false)
            requestBrokerStop()
            // The broker is the first thread: it drains, then the others are stopped by the context shutdown.
            threads.withLock { $0.first }?.join()
            terminateThreads()
            metricsEndpoint?.stop()
            logger.info("stopped")
        }
    }

    /// Makes every blocking socket call fail, joins every thread, terminates the context.
    private func terminateThreads() {
        context.shutdown()
        for thread in threads.withLock({ $0 }) { thread.join() }
        context.terminate()
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
    /// The admin endpoint would accept anyone from other hosts.
    case unauthenticatedAdmin(String)

    public var description: String {
        switch self {
        case .alreadyStarted:
            "the server was already started"
        case .unauthenticatedAdmin(let endpoint):
            "refusing to bind the admin endpoint \(endpoint) without authentication: give --server-key and --admin-keys, "
                + "bind a loopback address, or pass --insecure-admin"
        }
    }
}
