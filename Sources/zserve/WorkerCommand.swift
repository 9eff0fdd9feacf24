import ArgumentParser
import Dispatch
import Foundation
import Inference
import Logging
import Synchronization
import ZServe
import ZeroMQ

/// `zserve worker`: an inference worker process that joins a server's worker endpoint over tcp.
struct WorkerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "worker",
        abstract: "Serve predictions for a server on another host: connect to its --worker-endpoint.",
        discussion: """
            With --cache DIR (the normal case) the worker serves exactly the versions each server serves: it fetches
            their files from the server into DIR (verified by SHA-256, renamed into place once complete), loads and
            warms them up, and only then does the server route those versions to it; versions the server stops
            serving are dropped once their replacements are ready. With --model-repository DIR it loads from a
            repository of its own (shared with or synced from the server's) and polls it instead.

            It exchanges heartbeats with the server; either side gives the other up after three
            silent seconds (the server re-queues the request a dead worker held); a worker that hears nothing for
            three seconds reconnects and announces itself again, so it rejoins when a partition heals. Exits 0 on
            SIGTERM.
            """
    )

    @Option(help: "A server's worker endpoint, e.g. tcp://broker:7072; repeat it to serve several servers (one worker loop each).")
    var connect: [String]

    @Option(help: "Directory for model files fetched from the servers (created if missing; reused across restarts).")
    var cache: String?

    @Option(name: .customLong("model-repository"), help: "Load from this repository instead of fetching from the servers.")
    var modelRepository: String?

    @Option(name: .customLong("blas-threads"), help: "Threads per model run (matrix products and large loops split across them).")
    var blasThreads: Int = 1

    @Option(name: .customLong("poll-interval"), help: "Seconds between repository scans for new versions.")
    var pollInterval: Double = 2

    @Option(name: .customLong("server-public-key"), help: "The server's public key file, when its worker endpoint requires CURVE.")
    var serverPublicKey: String?

    @Option(name: .customLong("client-key"), help: "This worker's secret key file (zserve keygen); its .pub is in the server's --worker-keys.")
    var clientKey: String?

    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error or critical.")
    var logLevel: String = "info"

    @Option(name: .customLong("log-format"), help: "text, or json (one object per line).")
    var logFormat: String = "text"

    func validate() throws {
        guard blasThreads >= 1, pollInterval > 0 else {
            throw ValidationError("--blas-threads must be at least 1 and --poll-interval positive")
        }
        guard !connect.isEmpty else { throw ValidationError("--connect names at least one server's worker endpoint") }
        guard (cache == nil) != (modelRepository == nil) else {
            throw ValidationError("give --cache DIR (models fetched from the servers) or --model-repository DIR, not both")
        }
        guard (serverPublicKey == nil) == (clientKey == nil) else {
            throw ValidationError("--server-public-key and --client-key go together")
        }
        guard Logger.Level(rawValue: logLevel) != nil else { throw ValidationError("unknown --log-level \(logLevel)") }
        guard LogFormat(rawValue: logFormat) != nil else { throw ValidationError("--log-format must be text or json") }
    }

    func run() throws {
        LogFormat(rawValue: logFormat)?.bootstrap(level: Logger.Level(rawValue: logLevel) ?? .info)
        let logger = Logger(label: "zserve-worker")
        Parallelism.setThreadCount(blasThreads)
        let registry = ModelRegistry()

        let context = try Context()
        let signals = TerminationSignals { context.shutdown() }
        defer { signals.cancel() }
        let models: WorkerModels
        var manager: ServiceThread?
        if let modelRepository {
            // The model manager's own thread loads the repository, then polls it; the context shutdown stops it.
            do {
                manager = try ManagerService.startPolling(
                    context: context, registry: registry, repository: ModelRepository(root: URL(fileURLWithPath: modelRepository)),
                    pollInterval: .milliseconds(Int(pollInterval * 1000)), logger: logger)
            } catch {
                throw ValidationError("cannot read the repository: \(error)")
            }
            models = .repository(registry: registry)
        } else {
            do {
                models = try .cache(directory: URL(fileURLWithPath: cache!), registry: registry, logger: logger)
            } catch {
                throw ValidationError("cannot use the cache directory \(cache!): \(error)")
            }
        }
        defer {
            context.shutdown()
            manager?.join()
        }

        var curve: CurveClientCredentials?
        if let serverPublicKey, let clientKey {
            do {
                curve = try CurveClientCredentials(serverPublicKeyFile: serverPublicKey, clientKeyFile: clientKey)
            } catch {
                throw ValidationError("\(error)")
            }
        }
        // One worker loop per server, each on its own thread and socket, sharing the models: a result must go back
        // to the server that sent the work, so one socket cannot serve several servers.
        let failed = Mutex(false)
        let loops = DispatchGroup()
        for endpoint in connect {
            let worker = Worker(
                context: context, brokerEndpoint: endpoint, registry: registry, heartbeats: true, logger: logger, curve: curve,
                models: models)
            logger.info("worker connecting", metadata: ["broker": "\(endpoint)"])
            loops.enter()
            let thread = Thread {
                defer { loops.leave() }
                do {
                    try worker.run()
                } catch {
                    logger.error("worker stopped", metadata: ["broker": "\(endpoint)", "error": "\(error)"])
                    failed.withLock { $0 = true }
                }
            }
            thread.stackSize = 8 << 20
            thread.start()
        }
        loops.wait()
        if failed.withLock({ $0 }) { throw ExitCode(1) }
    }
}
