import ArgumentParser
import Dispatch
import Foundation
import Logging
import Synchronization
import ZServe

/// `zserve serve`: runs the server until SIGTERM or SIGINT.
struct ServeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve the models of a repository (<repo>/<model>/<version>/model.onnx).",
        discussion: """
            Prints one JSON line on stdout once serving: {"event": "ready", "listen": ..., "admin": ..., "workers": N}.
            Logs go to stderr.
            """
    )

    @Option(name: .customLong("model-repository"), help: "Model repository directory.")
    var modelRepository: String

    @Option(help: "Frontend endpoint, e.g. tcp://0.0.0.0:7070 (port 0 picks a free port).")
    var listen: String = "tcp://127.0.0.1:7070"

    @Option(help: "Admin endpoint for the ModelControl service.")
    var admin: String?

    @Option(name: .customLong("worker-endpoint"), help: "Endpoint where `zserve worker` processes on other hosts connect.")
    var workerEndpoint: String?

    @Option(name: .customLong("metrics-listen"), help: "HOST:PORT for HTTP /metrics (Prometheus), /healthz and /readyz; port 0 picks one.")
    var metricsListen: String?

    @Option(help: "Local inference worker threads (default: the number of cores; 0 with --worker-endpoint).")
    var workers: Int = ProcessInfo.processInfo.activeProcessorCount

    @Option(name: .customLong("blas-threads"), help: "Threads per model run in each worker (workers × this should not exceed the cores).")
    var blasThreads: Int = 1

    @Option(name: .customLong("max-message-size"), help: "Largest request accepted, in bytes.")
    var maxMessageSize: Int64 = 64 << 20

    @Option(name: .customLong("queue-capacity"), help: "Requests queued for a free worker before RESOURCE_EXHAUSTED.")
    var queueCapacity: Int = 4096

    @Option(name: .customLong("max-batch-size"), help: "Requests a worker takes at once and stacks into one run (1: off).")
    var maxBatchSize: Int = 1

    @Option(name: .customLong("max-queue-delay-us"), help: "Microseconds a request may wait for others to batch with.")
    var maxQueueDelayMicroseconds: Int = 0

    @Option(name: .customLong("batch-p99-target-us"), help: "Adapt each model's batch limit (AIMD) to keep p99 under this.")
    var batchP99TargetMicroseconds: Int?

    @Option(name: .customLong("autoscale"), help: "Scale local workers between MIN:MAX from queue depth.")
    var autoscale: String?

    @Option(name: .customLong("poll-interval"), help: "Seconds between repository scans for versions added by other tools (0: off).")
    var pollInterval: Double = 2

    @Option(name: .customLong("canary-seed"), help: "Seed of the canary split between weighted labels.")
    var canarySeed: UInt64 = 0

    @Option(name: .customLong("max-push-size"), help: "Largest model a push may upload, in bytes.")
    var maxPushSize: UInt64 = 4 << 30

    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error or critical.")
    var logLevel: String = "info"

    func validate() throws {
        guard workers >= 1 || (workers == 0 && workerEndpoint != nil) else {
            throw ValidationError("--workers must be at least 1 (0 only with --worker-endpoint)")
        }
        guard blasThreads >= 1 else { throw ValidationError("--blas-threads must be at least 1") }
        guard maxMessageSize >= 1024 else { throw ValidationError("--max-message-size must be at least 1024") }
        guard queueCapacity >= 0 else { throw ValidationError("--queue-capacity must not be negative") }
        guard pollInterval >= 0 else { throw ValidationError("--poll-interval must not be negative") }
        guard maxBatchSize >= 1, maxQueueDelayMicroseconds >= 0 else {
            throw ValidationError("--max-batch-size must be at least 1, --max-queue-delay-us not negative")
        }
        guard Logger.Level(rawValue: logLevel) != nil else { throw ValidationError("unknown --log-level \(logLevel)") }
    }

    /// Parses MIN:MAX worker bounds.
    static func bounds(_ text: String) throws -> ClosedRange<Int> {
        let parts = text.split(separator: ":").compactMap { Int($0) }
        guard parts.count == 2, parts[0] >= 1, parts[0] <= parts[1] else {
            throw ValidationError("--autoscale takes MIN:MAX with 1 ≤ MIN ≤ MAX")
        }
        return parts[0]...parts[1]
    }

    func run() throws {
        let level = Logger.Level(rawValue: logLevel) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        var configuration = ServerConfiguration(
            repository: URL(fileURLWithPath: modelRepository), listen: listen, admin: admin, workers: workers,
            blasThreads: blasThreads, maxMessageSize: maxMessageSize, queueCapacity: queueCapacity,
            pollInterval: pollInterval > 0 ? .milliseconds(Int(pollInterval * 1000)) : nil, canarySeed: canarySeed,
            maxPushSize: maxPushSize)
        configuration.workerEndpoint = workerEndpoint
        configuration.metricsListen = metricsListen
        configuration.maxBatchSize = maxBatchSize
        configuration.maxQueueDelay = .microseconds(maxQueueDelayMicroseconds)
        configuration.batchP99Target = batchP99TargetMicroseconds.map { .microseconds($0) }
        configuration.autoscale = try autoscale.map(Self.bounds)
        // Either a signal (exit 0 after draining) or a broker failure (exit 1) ends the run.
        let exitStatus = Mutex<Int32?>(nil)
        let finished = DispatchSemaphore(value: 0)
        let finish: @Sendable (Int32) -> Void = { status in
            let first = exitStatus.withLock { current in
                defer { if current == nil { current = status } }
                return current == nil
            }
            if first { finished.signal() }
        }
        let server = try Server(configuration: configuration, onBrokerFailure: { _ in finish(1) })

        let signals = TerminationSignals { finish(0) }

        let endpoints = try server.start()
        let ready: [String: Any] = [
            "event": "ready", "listen": endpoints.frontend, "admin": endpoints.admin ?? NSNull(), "workers": workers,
            "worker_endpoint": endpoints.workers ?? NSNull(), "metrics": endpoints.metrics ?? NSNull(),
        ]
        let line = try JSONSerialization.data(withJSONObject: ready, options: [.sortedKeys, .withoutEscapingSlashes])
        FileHandle.standardOutput.write(line + Data("\n".utf8))
        finished.wait()
        server.stop()
        signals.cancel()
        let status = exitStatus.withLock { $0 } ?? 0
        if status != 0 { throw ExitCode(status) }
    }
}
