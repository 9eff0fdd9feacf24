import Foundation
import ZeroMQ

/// Everything a `Server` needs to start; the `zserve serve` flags map onto these fields.
public struct ServerConfiguration: Sendable {
    /// Root of the model repository: `<root>/<model>/<version>/model.onnx`.
    public var repository: URL
    /// Frontend endpoint (a ROUTER), e.g. `tcp://0.0.0.0:7070`; port 0 or `*` picks a free port.
    public var listen: String
    /// Admin endpoint, or nil for none.
    public var admin: String?
    /// Most requests handed to a worker at once; it stacks those for the same model version whose inputs agree
    /// except in the first dimension into one run (dynamic batching). 1 turns batching off.
    public var maxBatchSize: Int = 1
    /// How long a request may wait in the queue for others to batch with while a worker is free; zero: never wait.
    public var maxQueueDelay: Duration = .zero
    /// Work for a local worker that its model's recent runs say takes at most this long is computed on the broker
    /// thread instead, saving the two thread hand-offs (worth it for small models), while that thread is mostly idle
    /// and no worker busy (`BrokerCore`); zero: always hand it off.
    public var inlineCompute: Duration = .microseconds(50)
    /// Bounds for autoscaling the local workers from queue depth; nil: the count only changes by ScaleWorkers.
    public var autoscale: ClosedRange<Int>?
    /// With a target, each model's batch limit adapts (AIMD) to keep its p99 latency under it.
    public var batchP99Target: Duration?
    /// Endpoint for workers in other processes (`zserve worker --connect`), or nil for local workers only.
    public var workerEndpoint: String?
    /// `HOST:PORT` of the HTTP listener serving `/metrics`, `/healthz` and `/readyz` (port 0: any free port), or nil
    /// for none.
    public var metricsListen: String?
    /// Local inference worker threads.
    public var workers: Int
    /// Threads each model run may use (`Parallelism`; process-wide): matrix products and large loops are split.
    public var blasThreads: Int
    /// Largest message accepted on the frontend, in bytes; larger ones make libzmq drop the sender's connection.
    public var maxMessageSize: Int64
    /// Requests waiting for a free worker before new ones are answered RESOURCE_EXHAUSTED.
    public var queueCapacity: Int
    /// Payload bytes waiting for a free worker before new requests are answered RESOURCE_EXHAUSTED.
    public var queueByteLimit: Int
    /// How long a stop waits for accepted requests to finish.
    public var drainTimeout: Duration
    /// How often the repository is scanned for versions added or removed by other tools; nil: never.
    public var pollInterval: Duration?
    /// Seeds the canary split between weighted labels.
    public var canarySeed: UInt64
    /// Largest model a push may announce, in bytes; also the largest model file a load reads.
    public var maxPushSize: UInt64
    /// How large one Predict input may be.
    public var requestLimits = RequestLimits()
    /// Graph nodes and initializer bytes a model file may hold (its file size is `maxPushSize`).
    public var modelFileLimits = ModelFileLimits()
    /// Models the server serves at most; a push of one more is refused, a repository with more serves the first
    /// ones by name.
    public var maxModels = 1000
    /// Uploads (pushes) open at once.
    public var maxUploads = 4
    /// CurveZMQ authentication; nil: none, and then the admin endpoint binds only a loopback address unless
    /// `insecureAdmin` is set.
    public var curve: Curve?
    /// Lets the admin endpoint bind a non-loopback address without authentication.
    public var insecureAdmin = false

    /// The server's CURVE key pair and the directories of allowed client public keys (`*.pub`) per endpoint.
    ///
    /// With a server key the admin endpoint always requires a key listed in `adminKeys` (none listed: nobody gets
    /// in); the frontend and the worker endpoint only when their directory is set. Directories are re-read when
    /// their `*.pub` files change.
    public struct Curve: Sendable {
        public var keys: CurveKeyPair
        public var adminKeys: URL?
        public var frontendKeys: URL?
        public var workerKeys: URL?

        public init(keys: CurveKeyPair, adminKeys: URL?, frontendKeys: URL? = nil, workerKeys: URL? = nil) {
            self.keys = keys
            self.adminKeys = adminKeys
            self.frontendKeys = frontendKeys
            self.workerKeys = workerKeys
        }
    }

    public init(
        repository: URL, listen: String, admin: String? = nil,
        workers: Int = ProcessInfo.processInfo.activeProcessorCount, blasThreads: Int = 1,
        maxMessageSize: Int64 = 64 << 20, queueCapacity: Int = 4096, queueByteLimit: Int = 1 << 30,
        drainTimeout: Duration = .seconds(10), pollInterval: Duration? = .seconds(2), canarySeed: UInt64 = 0,
        maxPushSize: UInt64 = 4 << 30
    ) {
        self.repository = repository
        self.listen = listen
        self.admin = admin
        self.workerEndpoint = nil
        self.metricsListen = nil
        self.workers = workers
        self.blasThreads = blasThreads
        self.maxMessageSize = maxMessageSize
        self.queueCapacity = queueCapacity
        self.queueByteLimit = queueByteLimit
        self.drainTimeout = drainTimeout
        self.pollInterval = pollInterval
        self.canarySeed = canarySeed
        self.maxPushSize = maxPushSize
    }

    /// Whether `endpoint` can only be reached from this host: ipc, inproc, or tcp on 127.0.0.0/8, ::1, localhost or
    /// the `lo` interface.
    static func isLoopback(_ endpoint: String) -> Bool {
        if endpoint.hasPrefix("ipc://") || endpoint.hasPrefix("inproc://") { return true }
        guard endpoint.hasPrefix("tcp://") else { return false }
        let address = endpoint.dropFirst("tcp://".count)
        guard let colon = address.lastIndex(of: ":") else { return false }
        let host = String(address[..<colon])
        if host == "[::1]" || host == "localhost" || host == "lo" { return true }
        var ipv4 = in_addr()
        return inet_pton(AF_INET, host, &ipv4) == 1 && UInt32(bigEndian: ipv4.s_addr) >> 24 == 127
    }

    /// The endpoint libzmq should bind: a tcp port of 0 becomes `*` (any free port).
    static func bindable(_ endpoint: String) -> String {
        endpoint.hasPrefix("tcp://") && endpoint.hasSuffix(":0") ? String(endpoint.dropLast()) + "*" : endpoint
    }
}
