import ArgumentParser
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import ZServeClient

/// `zserve top`: a live table of a server's models and versions from its `/metrics`, refreshed every interval.
struct TopCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "top",
        abstract: "Watch a server: request rate, error ratio, p50/p99 per model and version, queue and workers.",
        discussion: """
            Reads the server's Prometheus endpoint (zserve serve --metrics-listen) every --interval seconds; with
            --endpoint it also asks the server (ListModels) for each version's state. Rates and percentiles cover
            the last interval. Model rows show end-to-end latency, version rows the model run on a worker.
            """
    )

    @Option(help: "The server's metrics listener: HOST:PORT or a URL (…/metrics).")
    var metrics: String

    @Option(help: "The server's frontend or admin endpoint, to show version states (optional).")
    var endpoint: String?

    @Option(help: "Seconds between refreshes.")
    var interval: Double = 1

    @Option(help: "Refreshes before exiting (0: until interrupted).")
    var count: Int = 0

    func validate() throws {
        guard interval > 0 else { throw ValidationError("--interval must be positive") }
        guard count >= 0 else { throw ValidationError("--count must not be negative") }
    }

    func run() async throws {
        let url = try Self.metricsURL(metrics)
        let client = try endpoint.map { try Client(endpoint: $0, timeoutMilliseconds: 2000) }
        let interactive = isatty(STDOUT_FILENO) == 1
        var previous = try await Self.scrape(url)
        var refreshes = 0
        while count == 0 || refreshes < count {
            let started = ContinuousClock.now
            try await Task.sleep(for: .milliseconds(Int(interval * 1000)))
            let current = try await Self.scrape(url)
            let elapsed = ContinuousClock.now - started
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            let view = TopView(previous: previous, current: current, seconds: seconds, states: Self.states(client))
            let clock = Date().formatted(date: .omitted, time: .standard)
            let table = view.render(title: "zserve top — \(url.absoluteString) — \(clock) (every \(interval) s)", width: 132)
            // Interactive: clear the screen and draw from the top; otherwise one table after another.
            FileHandle.standardOutput.write(Data(((interactive ? "\u{1B}[H\u{1B}[2J" : "") + table + (interactive ? "" : "\n")).utf8))
            previous = current
            refreshes += 1
        }
    }

    static func metricsURL(_ text: String) throws -> URL {
        let withScheme = text.contains("://") ? text : "http://\(text)"
        let full = withScheme.split(separator: "/").count > 2 ? withScheme : withScheme + "/metrics"
        guard let url = URL(string: full), url.host != nil else { throw ValidationError("--metrics: not HOST:PORT or a URL: \(text)") }
        return url
    }

    private static func scrape(_ url: URL) async throws -> [MetricSample] {
        let (data, response) = try await URLSession.shared.data(from: url)
        guard let http = response as? HTTPURLResponse, http.statusCode == 200 else {
            throw ValidationError("\(url): HTTP \((response as? HTTPURLResponse)?.statusCode ?? 0)")
        }
        return try PrometheusText.parse(String(decoding: data, as: UTF8.self))
    }

    /// Version states by model and version, or empty without an endpoint or when the server does not answer.
    private static func states(_ client: Client?) -> [String: [String: String]] {
        guard let models = try? client?.listModels().models else { return [:] }
        var states: [String: [String: String]] = [:]
        for model in models {
            for version in model.versions {
                states[model.name, default: [:]][String(version.version)] = "\(version.state)".uppercased()
            }
        }
        return states
    }
}
