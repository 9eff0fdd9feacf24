import ArgumentParser
import Foundation
import Inference
import ServingProtocol
import ZServeClient
import ZeroMQ

/// `zserve bench`: Predict load against a running server, closed or open loop, over one or more sockets and threads.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Load a server with predictions and report throughput and latency percentiles.",
        discussion: """
            Closed loop (--concurrency C) keeps C requests in flight; open loop (--rate R) sends R requests per second
            and measures latency from each request's intended send time, so queueing is not hidden. Inputs are made
            from the model's metadata (first dimension of any size = --batch, others 1; floats in [-1, 1), ints 0).
            --connections N opens N sockets (DEALER: the requests in flight are spread over them), --threads T spreads
            them over T threads, each with its own sockets, merged into one histogram, so the generator is not the
            ceiling. --socket req sends on REQ sockets, one per request in flight (closed loop only).
            --echo-ceiling first runs the same generator, settings and request bytes against a raw libzmq echo in this
            process (ROUTER, or REP for --socket req) and prints that ceiling beside the results.
            --model-file makes the inputs from an ONNX file instead of asking the server for the model's metadata
            (for servers that answer only Predict, such as `zserve echo` or a peer).
            --json prints {"requests", "throughput_rps", "p50_us", "p90_us", "p99_us", "p999_us", "status": {...},
            "connections", "threads", "socket", and with --echo-ceiling "echo_ceiling": {the same figures}}.
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

    @Option(help: "Sockets to spread the load over (default 1; REQ: one per request in flight).")
    var connections: Int?

    @Option(help: "Threads to spread the sockets over, each with its own.")
    var threads: Int = 1

    @Option(help: "Client socket type: dealer (many requests in flight per socket) or req (one).")
    var socket: LoadGenerator.SocketKind = .dealer

    @Flag(name: .customLong("echo-ceiling"), help: "Also measure the generator against a raw libzmq echo, same settings.")
    var echoCeiling = false

    @Option(name: .customLong("model-file"), help: "Make the inputs from this ONNX file instead of the server's metadata.")
    var modelFile: String?

    @Flag(help: "Print one JSON object on stdout.")
    var json = false

    func validate() throws {
        guard concurrency >= 1, batch >= 1, duration > 0 else {
            throw ValidationError("--concurrency and --batch must be at least 1, --duration positive")
        }
        if let rate, rate <= 0 { throw ValidationError("--rate must be positive") }
        guard threads >= 1, (connections ?? 1) >= 1 else {
            throw ValidationError("--connections and --threads must be at least 1")
        }
        if socket == .request {
            guard rate == nil else { throw ValidationError("--rate needs --socket dealer: a REQ socket waits for each reply") }
            if let connections, connections != concurrency {
                throw ValidationError("--socket req opens one socket per request in flight: --connections must equal --concurrency")
            }
        }
    }

    func run() throws {
        try reportingFailures {
            let inputs = try modelFile.map(Self.inputSpecs(ofModelFile:)) ?? client.makeClient().modelMetadata(name: model).inputs
            var template = Zserve_V1_PredictRequest()
            template.id = "bench"
            template.model.name = model
            template.timeoutUs = deadlineMilliseconds * 1000
            template.inputs = inputs.map { Self.input(for: $0, batch: batch) }
            let payload: [UInt8] = try template.serializedBytes()
            let options = LoadGenerator.Options(
                connections: connections ?? (socket == .request ? concurrency : 1), threads: threads, socket: socket)
            let mode: LoadGenerator.Mode = rate.map { .open(ratePerSecond: $0) } ?? .closed(concurrency: concurrency)
            let ceiling = try echoCeiling ? measureCeiling(mode: mode, payload: payload, options: options) : nil
            let generator = try LoadGenerator(
                endpoints: client.endpoints, method: .predict, payload: payload, context: try Context(),
                curve: client.curveCredentials(), options: options)
            let report = try generator.run(mode, duration: duration) { progress in
                let line = String(format: "%.0fs: %d replies, %.0f req/s, p99 %.0f µs\n",
                                  progress.duration, progress.requests, progress.throughput, progress.percentiles[99] ?? 0)
                FileHandle.standardError.write(Data(line.utf8))
            }
            if json {
                var object = figures(report)
                object["batch"] = batch
                object["mode"] = rate == nil ? "closed" : "open"
                object["concurrency"] = concurrency
                object["rate"] = rate ?? 0
                object["socket"] = socket.rawValue
                if let ceiling { object["echo_ceiling"] = figures(ceiling) }
                try printJSON(object)
            } else {
                print(describe(report, as: "\(report.connections) \(socket.rawValue) socket(s) on \(report.threads) thread(s)"))
                print("status: " + report.statusCounts.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))
                if let ceiling {
                    print(describe(ceiling, as: "generator ceiling, raw libzmq echo (\(socket == .request ? "REP" : "ROUTER"), same settings, this process)"))
                    print(String(format: "this server: %.2f× the ceiling's throughput, %.2f× its p50",
                                 report.throughput / max(ceiling.throughput, 1e-9),
                                 (report.percentiles[50] ?? 0) / max(ceiling.percentiles[50] ?? 0, 1)))
                }
            }
        }
    }

    /// Runs the same generator settings and request bytes against a raw libzmq echo started in this process.
    private func measureCeiling(mode: LoadGenerator.Mode, payload: [UInt8], options: LoadGenerator.Options) throws -> LoadGenerator.Report {
        let echo = try RawEchoServer(kind: socket == .request ? .rep : .router)
        defer { echo.stop() }
        let context = try Context()
        defer { context.terminate() }
        return try LoadGenerator(endpoints: [echo.endpoint], method: .predict, payload: payload, context: context,
                                 options: options).run(mode, duration: duration)
    }

    /// The figures of a report as JSON fields.
    private func figures(_ report: LoadGenerator.Report) -> [String: Any] {
        [
            "requests": report.requests, "throughput_rps": report.throughput, "duration_s": report.duration,
            "p50_us": report.percentiles[50] ?? 0, "p90_us": report.percentiles[90] ?? 0,
            "p99_us": report.percentiles[99] ?? 0, "p999_us": report.percentiles[99.9] ?? 0,
            "status": report.statusCounts, "connections": report.connections, "threads": report.threads,
        ]
    }

    /// Two lines: throughput and latency percentiles of `report`, labelled.
    private func describe(_ report: LoadGenerator.Report, as label: String) -> String {
        String(format: "%d requests in %.1f s: %.0f req/s", report.requests, report.duration, report.throughput) + " (\(label))\n"
            + String(format: "latency p50 %.0f µs, p90 %.0f µs, p99 %.0f µs, p99.9 %.0f µs",
                     report.percentiles[50] ?? 0, report.percentiles[90] ?? 0, report.percentiles[99] ?? 0,
                     report.percentiles[99.9] ?? 0)
    }

    /// The input specs an ONNX file declares, in the wire form the server's metadata has.
    static func inputSpecs(ofModelFile path: String) throws -> [Zserve_V1_TensorSpec] {
        let loaded: Model
        do {
            loaded = try Model(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw ValidationError("--model-file \(path): \(error)")
        }
        return loaded.inputs.map { spec in
            .with {
                $0.name = spec.name
                $0.dtype = Zserve_V1_DataType(rawValue: Int(spec.elementType.rawValue)) ?? .unspecified
                $0.shape = (spec.shape ?? []).map { Int64($0 ?? -1) }
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
            } else if spec.dtype == .string {
                $0.stringData = Array(repeating: Data(), count: count)
            } else {
                $0.rawData = Data(count: count * (ElementType(rawValue: Int32(spec.dtype.rawValue))?.byteSize ?? 1))
            }
        }
    }
}

extension LoadGenerator.SocketKind: ExpressibleByArgument {}
