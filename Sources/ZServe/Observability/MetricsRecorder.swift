import CoreMetrics

/// The labels of one `zserve_requests_total` series: model, version (0: none was resolved) and gRPC code.
struct RequestSeries: Hashable {
    let model: String
    let version: Int64
    let code: Int
}

/// One thread's handles into the server's metrics, cached without a lock after their first use, so recording a
/// request or a run is the handle's own atomic add or histogram update.
///
/// Not thread-safe: the broker core and each worker own one.
final class MetricsRecorder {
    let metrics: ServerMetrics
    private var requests: [RequestSeries: CoreMetrics.Counter] = [:]
    private var timers: [ServerMetrics.TimerKey: CoreMetrics.Timer] = [:]

    init(_ metrics: ServerMetrics) {
        self.metrics = metrics
    }

    /// Counts one answered Predict request of `model` (version 0: none was resolved) with gRPC `code`.
    func countRequest(model: String, version: Int64, code: Int) {
        let series = RequestSeries(model: model, version: version, code: code)
        if let counter = requests[series] { return counter.increment() }
        let counter = metrics.requestCounter(series)
        requests[series] = counter
        counter.increment()
    }

    /// Records how long a run of `version` of `model` took on a worker.
    func recordCompute(model: String, version: Int64, nanoseconds: UInt64) {
        record(.compute(model: model, version: version), nanoseconds: nanoseconds)
    }

    /// Records how long a Predict for `model` took from its arrival to its answer.
    func recordTotal(model: String, nanoseconds: UInt64) {
        record(.total(model: model), nanoseconds: nanoseconds)
    }

    private func record(_ key: ServerMetrics.TimerKey, nanoseconds: UInt64) {
        let timer: CoreMetrics.Timer
        if let cached = timers[key] {
            timer = cached
        } else {
            timer = metrics.timer(key)
            timers[key] = timer
        }
        timer.recordNanoseconds(Int64(clamping: nanoseconds))
    }
}
