import ArgumentParser
import Foundation
import Inference
import ServingProtocol
import ZServeClient
import ZeroMQ

/// `zserve bench`: Predict load against a running server, closed or open loop.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Load a server with predictions and report throughput and latency percentiles.",
        discussion: """
            Closed loop (--concurrency C) keeps C requests in flight; open loop (--rate R) sends R requests per second
            and measures latency from each request's intended send time, so queueing is not hidden. Inputs are made
            from the model's metadata (first dimension of any size = --batch, others 1; floats in [-1, 1), ints 0).
            --json prints {"requests", "throughput_rps", "p50_us", "p90_us", "p99_us", "p999_us", "status": {...}}.
            """
    )

    @OptionGroup var client: ClientOptions

    @Option(help: "Model name.")
    var model: String

    @Option(help: "Requests in flight (closed loop).")
    var concurrency: Int = 8

    @Option(help: "Requests per second (open loop); overrides --concurrency.")
    var rate: Double?

    @Option(help: "Seconds of load.")
    var duration: Double = 10

    @Option(help: "Rows per request.")
    var batch: Int = 1

    @Option(name: .customLong("deadline-ms"), help: "Server-side deadline per request (0: none).")
    var deadlineMilliseconds: UInt64 = 0

    @Flag(help: "Print one JSON object on stdout.")
    var json = false

    func validate() throws {
        guard concurrency >= 1, batch >= 1, duration > 0 else {
            throw ValidationError("--concurrency and --batch must be at least 1, --duration positive")
        }
        if let rate, rate <= 0 { throw ValidationError("--rate must be positive") }
    }

    func run() throws {
        try reportingFailures {
            let metadata = try client.makeClient().modelMetadata(name: model)
            var template = Zserve_V1_PredictRequest()
            template.model.name = model
            template.timeoutUs = deadlineMilliseconds * 1000
            template.inputs = metadata.inputs.map { Self.input(for: $0, batch: batch) }
            let generator = try LoadGenerator(
                endpoints: client.endpoints, template: template, context: try Context(), curve: client.curveCredentials())
            let mode: LoadGenerator.Mode = rate.map { .open(ratePerSecond: $0) } ?? .closed(concurrency: concurrency)
            let report = try generator.run(mode, duration: duration) { progress in
                let line = String(format: "%.0fs: %d replies, %.0f req/s, p99 %.0f µs\n",
                                  progress.duration, progress.requests, progress.throughput, progress.percentiles[99] ?? 0)
                FileHandle.standardError.write(Data(line.utf8))
            }
            let percentiles = (p50: report.percentiles[50] ?? 0, p90: report.percentiles[90] ?? 0,
                               p99: report.percentiles[99] ?? 0, p999: report.percentiles[99.9] ?? 0)
            if json {
                try printJSON([
                    "requests": report.requests, "throughput_rps": report.throughput, "duration_s": report.duration,
                    "p50_us": percentiles.p50, "p90_us": percentiles.p90, "p99_us": percentiles.p99,
                    "p999_us": percentiles.p999, "status": report.statusCounts, "batch": batch,
                    "mode": rate == nil ? "closed" : "open", "concurrency": concurrency, "rate": rate ?? 0,
                ])
            } else {
                print(String(format: "%d requests in %.1f s: %.0f req/s", report.requests, report.duration, report.throughput))
                print(String(format: "latency p50 %.0f µs, p90 %.0f µs, p99 %.0f µs, p99.9 %.0f µs",
                             percentiles.p50, percentiles.p90, percentiles.p99, percentiles.p999))
                print("status: " + report.statusCounts.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))
            }
        }
    }

    /// A request input for `spec`: the first dimension of any size is the batch, others 1.
    static func input(for spec: Zserve_V1_TensorSpec, batch: Int) -> Zserve_V1_Tensor {
        let shape = spec.shape.enumerated().map { axis, dim in dim >= 0 ? dim : (axis == 0 ? Int64(batch) : 1) }
        let count = Int(shape.reduce(1, *))
        return .with {
            $0.name = spec.name
            $0.dtype = spec.dtype
            $0.shape = shape
            if spec.dtype == .float32 {
                $0.rawData = (0..<count).map { _ in Float.random(in: -1..<1) }.withUnsafeBytes { Data($0) }
            } else {
                $0.rawData = Data(count: count * (ElementType(rawValue: Int32(spec.dtype.rawValue))?.byteSize ?? 1))
            }
        }
    }
}
