import Foundation

/// What `zserve top` shows: per model and version, request rate, error ratio and latency percentiles over the
/// interval between two scrapes of a server's `/metrics`, with the queue and the workers.
///
/// Model rows carry the end-to-end latency (`zserve_request_duration_seconds{model}`), version rows the time of the
/// model run on a worker (`zserve_compute_seconds{model,version}`). Percentiles are read from the histogram buckets
/// as Prometheus's `histogram_quantile` does (linear within a bucket); nil where nothing was observed.
public struct TopView: Sendable {
    public struct VersionRow: Sendable, Equatable {
        public let version: String
        /// AVAILABLE, LOADING, … when the server's model list was read, else "".
        public let state: String
        public let requestsPerSecond: Double
        public let errorRatio: Double?
        public let computeP50: Double?
        public let computeP99: Double?
    }

    public struct ModelRow: Sendable, Equatable {
        public let name: String
        public let requestsPerSecond: Double
        public let errorRatio: Double?
        public let p50: Double?
        public let p99: Double?
        public let versions: [VersionRow]
    }

    public let models: [ModelRow]
    public let queueDepth: Double
    /// Workers by "location/state" (`local/busy`, `remote/idle`, …).
    public let workers: [String: Double]

    /// - Parameters:
    ///   - previous, current: two scrapes `seconds` apart.
    ///   - states: version states by model and version, from ListModels (may be empty).
    public init(previous: [MetricSample], current: [MetricSample], seconds: Double, states: [String: [String: String]] = [:]) {
        let interval = max(seconds, 1e-9)
        let before = Dictionary(previous.map { (Key($0), $0.value) }, uniquingKeysWith: { first, _ in first })
        func delta(_ sample: MetricSample) -> Double {
            let earlier = before[Key(sample)] ?? 0
            return sample.value >= earlier ? sample.value - earlier : sample.value  // a restart resets counters
        }
        var requests: [String: [String: (all: Double, failed: Double)]] = [:]
        for sample in current where sample.name == "zserve_requests_total" {
            let model = sample.labels["model"] ?? "", version = sample.labels["version"] ?? ""
            let change = delta(sample)
            var entry = requests[model, default: [:]][version, default: (0, 0)]
            entry.all += change
            if sample.labels["code"] != "OK" { entry.failed += change }
            requests[model, default: [:]][version] = entry
        }
        let latency = Self.buckets(current, "zserve_request_duration_seconds_bucket", delta) { $0["model"] ?? "" }
        let compute = Self.buckets(current, "zserve_compute_seconds_bucket", delta) {
            "\($0["model"] ?? "")\u{0}\($0["version"] ?? "")"
        }
        let names = Set(requests.keys).union(states.keys).union(latency.keys).filter { !$0.isEmpty }
        models = names.sorted().map { name in
            let byVersion = requests[name] ?? [:]
            let versions = Set(byVersion.keys).union(states[name]?.keys ?? [:].keys).filter { !$0.isEmpty }
                .sorted { (Int64($0) ?? 0) > (Int64($1) ?? 0) }
            let total = byVersion.values.reduce((all: 0.0, failed: 0.0)) { ($0.all + $1.all, $0.failed + $1.failed) }
            return ModelRow(
                name: name, requestsPerSecond: total.all / interval,
                errorRatio: total.all > 0 ? total.failed / total.all : nil,
                p50: latency[name].flatMap { Self.quantile(0.5, $0) }, p99: latency[name].flatMap { Self.quantile(0.99, $0) },
                versions: versions.map { version in
                    let counts = byVersion[version] ?? (0, 0)
                    let histogram = compute["\(name)\u{0}\(version)"]
                    return VersionRow(
                        version: version, state: states[name]?[version] ?? "",
                        requestsPerSecond: counts.all / interval, errorRatio: counts.all > 0 ? counts.failed / counts.all : nil,
                        computeP50: histogram.flatMap { Self.quantile(0.5, $0) },
                        computeP99: histogram.flatMap { Self.quantile(0.99, $0) })
                })
        }
        queueDepth = current.first { $0.name == "zserve_queue_depth" }?.value ?? 0
        var workers: [String: Double] = [:]
        for sample in current where sample.name == "zserve_workers" {
            workers["\(sample.labels["location"] ?? "")/\(sample.labels["state"] ?? "")"] = sample.value
        }
        self.workers = workers
    }

    /// Samples are matched between scrapes by name and labels.
    private struct Key: Hashable {
        let name: String
        let labels: [String: String]
        init(_ sample: MetricSample) {
            name = sample.name
            labels = sample.labels
        }
    }

    /// Per group (from a sample's labels): the change of each cumulative bucket, as (upper bound, count) by bound.
    private static func buckets(
        _ samples: [MetricSample], _ name: String, _ delta: (MetricSample) -> Double, group: ([String: String]) -> String
    ) -> [String: [(bound: Double, count: Double)]] {
        var result: [String: [(bound: Double, count: Double)]] = [:]
        for sample in samples where sample.name == name {
            guard let bound = sample.labels["le"].flatMap({ $0 == "+Inf" ? .infinity : Double($0) }) else { continue }
            result[group(sample.labels), default: []].append((bound, delta(sample)))
        }
        return result.mapValues { $0.sorted { $0.bound < $1.bound } }
    }

    /// The q-quantile of cumulative buckets, interpolated linearly within the bucket that holds it (the lowest
    /// bucket from 0); the largest finite bound when it falls in +Inf; nil without observations.
    public static func quantile(_ q: Double, _ buckets: [(bound: Double, count: Double)]) -> Double? {
        guard let total = buckets.last?.count, total > 0 else { return nil }
        let rank = q * total
        var lower = 0.0, below = 0.0
        for (bound, count) in buckets {
            if count >= rank {
                guard bound.isFinite else { return lower }
                return count > below ? lower + (bound - lower) * (rank - below) / (count - below) : bound
            }
            lower = bound
            below = count
        }
        return lower
    }

    // MARK: Rendering

    /// The table as text lines, at most `width` columns wide.
    public func render(title: String, width: Int = 120) -> String {
        let local = "local \(Int(workers["local/busy"] ?? 0)) busy \(Int(workers["local/idle"] ?? 0)) idle"
        let remote = "remote \(Int(workers["remote/busy"] ?? 0)) busy \(Int(workers["remote/idle"] ?? 0)) idle"
        var lines = [title, "queue \(Int(queueDepth))   workers: \(local), \(remote)", ""]
        lines.append(Self.row("MODEL", "VERSION", "STATE", "REQ/S", "ERR%", "P50 ms", "P99 ms", "RUN P50", "RUN P99"))
        for model in models {
            lines.append(Self.row(
                model.name, "all", "", Self.rate(model.requestsPerSecond), Self.percent(model.errorRatio),
                Self.milliseconds(model.p50), Self.milliseconds(model.p99), "", ""))
            for version in model.versions {
                lines.append(Self.row(
                    "", version.version, version.state, Self.rate(version.requestsPerSecond), Self.percent(version.errorRatio),
                    "", "", Self.milliseconds(version.computeP50), Self.milliseconds(version.computeP99)))
            }
        }
        if models.isEmpty { lines.append("(no models)") }
        return lines.map { String($0.prefix(width)) }.joined(separator: "\n") + "\n"
    }

    private static func row(_ columns: String...) -> String {
        let widths = [28, 8, 10, 10, 7, 9, 9, 9, 9]
        return zip(columns, widths).enumerated().map { index, pair in
            let (text, width) = pair
            let clipped = String(text.prefix(width))
            let padding = String(repeating: " ", count: max(0, width - clipped.count))
            return index < 3 ? clipped + padding : padding + clipped
        }.joined(separator: " ").trailingSpacesRemoved
    }

    private static func rate(_ value: Double) -> String { String(format: "%.1f", value) }
    private static func percent(_ value: Double?) -> String { value.map { String(format: "%.1f%%", $0 * 100) } ?? "-" }
    private static func milliseconds(_ seconds: Double?) -> String { seconds.map { String(format: "%.2f", $0 * 1000) } ?? "-" }
}

extension String {
    fileprivate var trailingSpacesRemoved: String {
        String(reversed().drop { $0 == " " }.reversed())
    }
}
