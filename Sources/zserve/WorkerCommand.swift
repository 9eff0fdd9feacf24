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
            The worker loads models from its own --model-repository (the server's, shared or synced) and polls it
            for new versions. It exchanges heartbeats with the server; either side gives the other up after three
            silent seconds (the server re-queues the request a dead worker held). Exits 0 on SIGTERM, 1 when the
            server goes silent.
            """
    )

    @Option(help: "The server's worker endpoint, e.g. tcp://broker:7072.")
    var connect: String

    @Option(name: .customLong("model-repository"), help: "Model repository directory.")
    var modelRepository: String

    @Option(name: .customLong("blas-threads"), help: "Threads per model run (matrix products and large loops split across them).")
    var blasThreads: Int = 1

    @Option(name: .customLong("poll-interval"), help: "Seconds between repository scans for new versions.")
    var pollInterval: Double = 2

    func validate() throws {
        guard blasThreads >= 1, pollInterval > 0 else {
            throw ValidationError("--blas-threads must be at least 1 and --poll-interval positive")
        }
    }

    func run() throws {
        LoggingSystem.bootstrap { StreamLogHandler.standardError(label: $0) }
        let logger = Logger(label: "zserve-worker")
        Parallelism.setThreadCount(blasThreads)
        let registry = ModelRegistry()
        let repository = ModelRepository(root: URL(fileURLWithPath: modelRepository))

        let context = try Context()
        let stopping = Mutex(false)
        let signals = [SIGTERM, SIGINT].map { number in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler {
                stopping.withLock { $0 = true }
                context.shutdown()
            }
            source.resume()
            return source
        }
        // The model manager lives on its own thread: it loads the repository, then polls it for new versions.
        let interval = pollInterval
        let loaded = DispatchSemaphore(value: 0)
        let loadFailure = Mutex<String?>(nil)
        Thread {
            let manager = ModelManager(registry: registry, repository: repository, logger: logger)
            do {
                try manager.start(ownsRepository: false)
            } catch {
                loadFailure.withLock { $0 = "\(error)" }
            }
            loaded.signal()
            while !(stopping.withLock { $0 }) {
                Thread.sleep(forTimeInterval: interval)
                manager.synchronize()
            }
        }.start()
        loaded.wait()
        if let failure = loadFailure.withLock({ $0 }) { throw ValidationError("cannot read the repository: \(failure)") }

        let worker = Worker(context: context, brokerEndpoint: connect, registry: registry, heartbeats: true, logger: logger)
        logger.info("worker connecting", metadata: ["broker": "\(connect)"])
        do {
            try worker.run()
        } catch {
            logger.error("worker stopped", metadata: ["error": "\(error)"])
            signals.forEach { $0.cancel() }
            throw ExitCode(1)
        }
        signals.forEach { $0.cancel() }
    }
}
