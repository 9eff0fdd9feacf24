import ArgumentParser
import Foundation
import Logging
import ServiceLifecycle
import ZServe

/// `zserve serve`: runs the server until SIGTERM or SIGINT (drain, exit 0); a second signal exits at once.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve the models of a repository (<repo>/<model>/<version>/model.onnx).",
        discussion: """
            Settings come from defaults, then --config FILE (YAML; keys are the flag names without dashes), then
            flags. Prints one JSON line on stdout once serving: {"event": "ready", "listen": ..., "admin": ...,
            "workers": N}. Logs go to stderr. SIGTERM or SIGINT: stop accepting, answer every accepted request
            (up to --drain-timeout), keep the sockets open until the last reply is 250 ms old so clients read it (new
            requests are refused), exit 0; a second signal exits at once with 128 + the signal number.
            """
    )

    @Option(help: "A YAML file of settings (keys: these flags' names without dashes); flags override it.")
    var config: String?

    @Flag(name: .customLong("print-config"), help: "Print the effective settings (with where each came from) and exit.")
    var printConfig = false

    @Option(name: .customLong("model-repository"), help: "Model repository directory.")
    var modelRepository: String?

    @Option(help: "Frontend endpoint, e.g. tcp://0.0.0.0:7070 (port 0 picks a free port). Default tcp://127.0.0.1:7070.")
    var listen: String?

    @Option(help: "Admin endpoint for the ModelControl service.")
    var admin: String?

    @Option(name: .customLong("worker-endpoint"), help: "Endpoint where `zserve worker` processes on other hosts connect.")
    var workerEndpoint: String?

    @Option(name: .customLong("metrics-listen"), help: "HOST:PORT for HTTP /metrics (Prometheus), /healthz and /readyz; port 0 picks one.")
    var metricsListen: String?

    @Option(help: "Local inference worker threads (default: the number of cores; 0 with --worker-endpoint).")
    var workers: Int?

    @Option(name: .customLong("blas-threads"), help: "Threads per model run in each worker (workers × this should not exceed the cores). Default 1.")
    var blasThreads: Int?

    @Option(name: .customLong("max-message-size"), help: "Largest request accepted, in bytes. Default 64 MiB.")
    var maxMessageSize: Int?

    @Option(name: .customLong("queue-capacity"), help: "Requests queued for a free worker before RESOURCE_EXHAUSTED. Default 4096.")
    var queueCapacity: Int?

    @Option(name: .customLong("queue-bytes"), help: "Payload bytes queued for a free worker before RESOURCE_EXHAUSTED. Default 1 GiB.")
    var queueBytes: Int?

    @Option(name: .customLong("max-batch-size"), help: "Requests a worker takes at once and stacks into one run (1: off). Default 1.")
    var maxBatchSize: Int?

    @Option(name: .customLong("max-queue-delay-us"), help: "Microseconds a request may wait for others to batch with. Default 0.")
    var maxQueueDelayMicroseconds: Int?

    @Option(name: .customLong("inline-compute-us"), help: "Compute work the model's recent runs say takes at most this many microseconds on the broker thread instead of waking a local worker, while the broker is mostly idle (two thread hand-offs saved). Default 50; 0: off.")
    var inlineComputeMicroseconds: Int?

    @Option(name: .customLong("batch-p99-target-us"), help: "Adapt each model's batch limit (AIMD) to keep p99 under this.")
    var batchP99TargetMicroseconds: Int?

    @Option(name: .customLong("autoscale"), help: "Scale local workers between MIN:MAX from queue depth.")
    var autoscale: String?

    @Option(name: .customLong("poll-interval"), help: "Seconds between repository scans for versions added by other tools (0: off). Default 2.")
    var pollInterval: Double?

    @Option(name: .customLong("canary-seed"), help: "Seed of the canary split between weighted labels.")
    var canarySeed: UInt64?

    @Option(name: .customLong("max-push-size"), help: "Largest model file a push may upload or a load read, in bytes. Default 4 GiB.")
    var maxPushSize: UInt64?

    @Option(name: .customLong("max-tensor-elements"), help: "Elements one Predict input may have. Default 16 Mi.")
    var maxTensorElements: Int?

    @Option(name: .customLong("max-batch-rows"), help: "Rows (first dimension) one Predict input may have. Default 65536.")
    var maxBatchRows: Int?

    @Option(name: .customLong("max-models"), help: "Models served at most. Default 1000.")
    var maxModels: Int?

    @Option(name: .customLong("max-graph-nodes"), help: "Graph nodes (subgraphs included) a model may have. Default 100000.")
    var maxGraphNodes: Int?

    @Option(name: .customLong("max-initializer-bytes"), help: "Initializer (weight) bytes a model may have. Default 4 GiB.")
    var maxInitializerBytes: UInt64?

    @Option(name: .customLong("max-uploads"), help: "Pushes in progress at once. Default 4.")
    var maxUploads: Int?

    @Option(name: .customLong("drain-timeout"), help: "Seconds a stop waits for accepted requests before answering them UNAVAILABLE. Default 10.")
    var drainTimeout: Double?

    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error or critical. Default info.")
    var logLevel: String?

    @Option(name: .customLong("log-format"), help: "text, or json (one object per line). Default text.")
    var logFormat: String?

    @Option(name: .customLong("server-key"), help: "The server's secret key file (zserve keygen): CURVE on the admin endpoint.")
    var serverKey: String?

    @Option(name: .customLong("admin-keys"), help: "Directory of client public keys (*.pub) allowed on the admin endpoint.")
    var adminKeys: String?

    @Option(name: .customLong("frontend-keys"), help: "Directory of client public keys allowed on the frontend (CURVE there too).")
    var frontendKeys: String?

    @Option(name: .customLong("worker-keys"), help: "Directory of worker public keys allowed on the worker endpoint.")
    var workerKeys: String?

    @Flag(name: .customLong("insecure-admin"), help: "Let the admin endpoint bind a non-loopback address without keys.")
    var insecureAdmin = false

    /// Defaults, then the config file, then the flags given.
    func settings() throws(ConfigurationError) -> ServeSettings {
        var settings = ServeSettings()
        if let config { try ConfigFile.apply(config, to: &settings) }
        settings.override("model-repository", with: modelRepository)
        settings.override("listen", with: listen)
        settings.override("admin", with: admin)
        settings.override("worker-endpoint", with: workerEndpoint)
        settings.override("metrics-listen", with: metricsListen)
        settings.override("workers", with: workers)
        settings.override("blas-threads", with: blasThreads)
        settings.override("max-message-size", with: maxMessageSize)
        settings.override("queue-capacity", with: queueCapacity)
        settings.override("queue-bytes", with: queueBytes)
        settings.override("max-batch-size", with: maxBatchSize)
        settings.override("max-queue-delay-us", with: maxQueueDelayMicroseconds)
        settings.override("inline-compute-us", with: inlineComputeMicroseconds)
        settings.override("batch-p99-target-us", with: batchP99TargetMicroseconds)
        settings.override("autoscale", with: autoscale)
        settings.override("poll-interval", with: pollInterval)
        settings.override("canary-seed", with: canarySeed)
        settings.override("max-push-size", with: maxPushSize)
        settings.override("drain-timeout", with: drainTimeout)
        settings.override("max-tensor-elements", with: maxTensorElements)
        settings.override("max-batch-rows", with: maxBatchRows)
        settings.override("max-models", with: maxModels)
        settings.override("max-graph-nodes", with: maxGraphNodes)
        settings.override("max-initializer-bytes", with: maxInitializerBytes)
        settings.override("max-uploads", with: maxUploads)
        settings.override("log-level", with: logLevel)
        settings.override("log-format", with: logFormat)
        settings.override("server-key", with: serverKey)
        settings.override("admin-keys", with: adminKeys)
        settings.override("frontend-keys", with: frontendKeys)
        settings.override("worker-keys", with: workerKeys)
        settings.override("insecure-admin", with: insecureAdmin ? true : nil)
        return settings
    }

    func run() async throws {
        let settings = try settings()
        if printConfig {
            print(settings.rendered(), terminator: "")
            return
        }
        let configuration = try settings.serverConfiguration()
        LogFormat(rawValue: settings.logFormat)?.bootstrap(level: Logger.Level(rawValue: settings.logLevel) ?? .info)
        let logger = Logger(label: "zserve")
        let service = try ServerService(configuration: configuration, logger: logger) { endpoints in
            Self.announce(endpoints, workers: configuration.workers)
        }
        let group = ServiceGroup(configuration: .init(
            services: [
                .init(service: SecondSignalExit(logger: logger)),
                .init(service: service, successTerminationBehavior: .gracefullyShutdownGroup, failureTerminationBehavior: .gracefullyShutdownGroup),
            ],
            gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        do {
            try await group.run()
        } catch {
            logger.critical("server stopped after a failure", metadata: ["error": "\(error)"])
            throw ExitCode(1)
        }
    }

    /// The ready line on stdout that scripts and tests wait for.
    private static func announce(_ endpoints: Server.Endpoints, workers: Int) {
        let ready: [String: Any] = [
            "event": "ready", "listen": endpoints.frontend, "admin": endpoints.admin ?? NSNull(), "workers": workers,
            "worker_endpoint": endpoints.workers ?? NSNull(), "metrics": endpoints.metrics ?? NSNull(),
        ]
        guard let line = try? JSONSerialization.data(withJSONObject: ready, options: [.sortedKeys, .withoutEscapingSlashes])
        else { return }
        FileHandle.standardOutput.write(line + Data("\n".utf8))
    }
}
