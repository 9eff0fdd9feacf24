import CoreMetrics
import ServingProtocol
import Prometheus
import Synchronization

/// The server's Prometheus series, recorded through swift-metrics handles made by one `PrometheusMetricsFactory`
/// (per server, no global bootstrap, so several servers in one process keep their own series).
///
/// Names follow Prometheus conventions (`zserve_` prefix, `_total` counters, `_seconds` durations). Handles for
/// labelled series are made once per label set and cached here; the broker and each worker keep their own lock-free
/// cache of them (`MetricsRecorder`), so recording on the hot path is an atomic add or a histogram update.
/// Thread-safe: the broker, workers and the model manager record concurrently.
public final class ServerMetrics: Sendable {
    /// The registry the `/metrics` endpoint renders.
    public let registry: PrometheusCollectorRegistry
    private let factory: PrometheusMetricsFactory
    private let requestCounters = Mutex<[RequestSeries: CoreMetrics.Counter]>([:])
    private let timers = Mutex<[TimerKey: CoreMetrics.Timer]>([:])
    private let swapCounters = Mutex<[String: CoreMetrics.Counter]>([:])
    private let lifecycleCounters = Mutex<[LifecycleKey: CoreMetrics.Counter]>([:])
    /// `zserve_model_queue_depth` per model that has had requests queued.
    private let modelQueueDepths = Mutex<[String: CoreMetrics.Gauge]>([:])

    let queueWait: CoreMetrics.Timer
    let batchSize: CoreMetrics.Recorder
    let queueDepth: CoreMetrics.Gauge
    /// Requests computed on the broker thread (`--inline-compute-us`) rather than by a worker.
    let brokerComputed: CoreMetrics.Counter
    let bytesIn: [Origin: CoreMetrics.Counter]
    let bytesOut: [Origin: CoreMetrics.Counter]
    /// Workers by location and activity, updated by the broker.
    private let workers: [String: CoreMetrics.Gauge]
    /// Versions by state, computed from the registry when scraped.
    private let versionStates: [VersionState: CoreMetrics.Gauge]

    /// A labelled histogram: end-to-end latency per model, compute time per model and version.
    enum TimerKey: Hashable {
        case total(model: String)
        case compute(model: String, version: Int64)
    }

    private struct LifecycleKey: Hashable {
        let event: String
        let outcome: String
    }

    public init() {
        let registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        let latencyBuckets: [Duration] = [
            .microseconds(25), .microseconds(50), .microseconds(100), .microseconds(250), .microseconds(500),
            .milliseconds(1), .milliseconds(2.5), .milliseconds(5), .milliseconds(10), .milliseconds(25),
            .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2.5),
            .seconds(10),
        ]
        factory.defaultDurationHistogramBuckets = latencyBuckets
        factory.valueHistogramBuckets["zserve_batch_size"] = [1, 2, 4, 8, 16, 32, 64, 128, 256]
        self.registry = registry
        self.factory = factory
        queueWait = CoreMetrics.Timer(label: "zserve_queue_wait_seconds", dimensions: [], factory: factory)
        batchSize = CoreMetrics.Recorder(label: "zserve_batch_size", dimensions: [], aggregate: true, factory: factory)
        queueDepth = CoreMetrics.Gauge(label: "zserve_queue_depth", dimensions: [], factory: factory)
        brokerComputed = CoreMetrics.Counter(label: "zserve_broker_computed_requests_total", dimensions: [], factory: factory)
        bytesIn = [
            .frontend: CoreMetrics.Counter(label: "zserve_received_bytes_total", dimensions: [("endpoint", "frontend")], factory: factory),
            .admin: CoreMetrics.Counter(label: "zserve_received_bytes_total", dimensions: [("endpoint", "admin")], factory: factory),
        ]
        bytesOut = [
            .frontend: CoreMetrics.Counter(label: "zserve_sent_bytes_total", dimensions: [("endpoint", "frontend")], factory: factory),
            .admin: CoreMetrics.Counter(label: "zserve_sent_bytes_total", dimensions: [("endpoint", "admin")], factory: factory),
        ]
        var workers: [String: CoreMetrics.Gauge] = [:]
        for location in ["local", "remote"] {
            for activity in ["busy", "idle"] {
                workers["\(location)/\(activity)"] = CoreMetrics.Gauge(
                    label: "zserve_workers", dimensions: [("location", location), ("state", activity)], factory: factory)
            }
        }
        self.workers = workers
        var versionStates: [VersionState: CoreMetrics.Gauge] = [:]
        for state in [VersionState.loading, .available, .failed, .unloading, .end] {
            versionStates[state] = CoreMetrics.Gauge(
                label: "zserve_model_versions", dimensions: [("state", state.rawValue.lowercased())], factory: factory)
        }
        self.versionStates = versionStates
        // Known label sets start at 0, so a dashboard shows "none yet" rather than "no data".
        for event in ["load", "push"] {
            for ok in [true, false] { _ = lifecycleCounter(event, ok: ok) }
        }
    }

    /// The counter of answered Predict requests with `series`' labels (made on first use).
    func requestCounter(_ series: RequestSeries) -> CoreMetrics.Counter {
        requestCounters.withLock { counters in
            if let counter = counters[series] { return counter }
            let counter = CoreMetrics.Counter(label: "zserve_requests_total", dimensions: [
                ("model", series.model), ("version", series.version > 0 ? String(series.version) : ""),
                ("code", Zserve_V1_Code(rawValue: series.code).map(\.name) ?? "CODE_\(series.code)"),
            ], factory: factory)
            counters[series] = counter
            return counter
        }
    }

    /// The histogram `key` names (made on first use): `zserve_request_duration_seconds{model}` from arrival to
    /// answer, `zserve_compute_seconds{model,version}` of runs on workers.
    func timer(_ key: TimerKey) -> CoreMetrics.Timer {
        timers.withLock { timers in
            if let timer = timers[key] { return timer }
            let timer = switch key {
            case .total(let model):
                CoreMetrics.Timer(label: "zserve_request_duration_seconds", dimensions: [("model", model)], factory: factory)
            case .compute(let model, let version):
                CoreMetrics.Timer(
                    label: "zserve_compute_seconds", dimensions: [("model", model), ("version", String(version))],
                    factory: factory)
            }
            timers[key] = timer
            return timer
        }
    }

    /// Counts a change of `model`'s default version from one version to another (push, poll, rollback) in
    /// `zserve_model_swaps_total{model}`.
    func countSwap(model: String) {
        let counter = swapCounters.withLock { counters in
            if let counter = counters[model] { return counter }
            let counter = CoreMetrics.Counter(label: "zserve_model_swaps_total", dimensions: [("model", model)], factory: factory)
            counters[model] = counter
            return counter
        }
        counter.increment()
    }

    /// Counts a lifecycle event (`load`, `push`) with its outcome (`ok`, `failed`) in `zserve_model_loads_total`,
    /// `zserve_model_pushes_total`.
    func countLifecycle(_ event: String, ok: Bool) {
        lifecycleCounter(event, ok: ok).increment()
    }

    private func lifecycleCounter(_ event: String, ok: Bool) -> CoreMetrics.Counter {
        let key = LifecycleKey(event: event, outcome: ok ? "ok" : "failed")
        return lifecycleCounters.withLock { counters in
            if let counter = counters[key] { return counter }
            let plural = event.hasSuffix("sh") ? "\(event)es" : "\(event)s"
            let counter = CoreMetrics.Counter(label: "zserve_model_\(plural)_total", dimensions: [("outcome", key.outcome)], factory: factory)
            counters[key] = counter
            return counter
        }
    }

    /// Sets the worker gauges.
    /// Sets each model's queued request count; models queued before and absent from `depths` go to 0. Only models
    /// that ever had requests queued get a series, so a model name nobody serves cannot add one.
    func recordModelQueueDepths(_ depths: [String: Int]) {
        modelQueueDepths.withLock { gauges in
            for (model, gauge) in gauges where depths[model] == nil { gauge.record(0) }
            for (model, depth) in depths {
                let gauge = gauges[model] ?? CoreMetrics.Gauge(
                    label: "zserve_model_queue_depth", dimensions: [("model", model)], factory: factory)
                gauges[model] = gauge
                gauge.record(depth)
            }
        }
    }

    func recordWorkers(localBusy: Int, localIdle: Int, remoteBusy: Int, remoteIdle: Int) {
        workers["local/busy"]?.record(localBusy)
        workers["local/idle"]?.record(localIdle)
        workers["remote/busy"]?.record(remoteBusy)
        workers["remote/idle"]?.record(remoteIdle)
    }

    /// The Prometheus text exposition of every series, with the version-state gauges refreshed from `registry`.
    public func render(models: ModelRegistry) -> [UInt8] {
        var counts: [VersionState: Int] = [:]
        for snapshot in models.snapshots() {
            for version in snapshot.versions { counts[version.state, default: 0] += 1 }
        }
        for (state, gauge) in versionStates { gauge.record(counts[state] ?? 0) }
        var buffer: [UInt8] = []
        registry.emit(into: &buffer)
        return buffer
    }
}
