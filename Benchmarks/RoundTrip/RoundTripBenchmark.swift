import ArgumentParser
import Foundation
import Logging
import ServingProtocol
import ZServe
import ZeroMQ

/// Batch-1 round trips over tcp loopback: ZServe Predict on the example model versus a raw libzmq ROUTER echo that
/// answers the same frames without decoding or computing, measured in one run with interleaved blocks.
@main
struct RoundTripBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "zserve-rtt-bench")

    @Option(help: "Model repository to serve.")
    var modelRepository: String = "Examples/model-repository"

    @Option(help: "Round trips per target.")
    var iterations: Int = 20_000

    @Option(help: "Worker threads.")
    var workers: Int = 1

    @Flag(help: "Print one JSON object.")
    var json = false

    func validate() throws {
        guard iterations >= 1000 else { throw ValidationError("--iterations must be at least 1000 (blocks of 1000)") }
    }

    func run() throws {
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = .warning
            return handler
        }
        let server = try Server(configuration: ServerConfiguration(
            repository: URL(fileURLWithPath: modelRepository), listen: "tcp://127.0.0.1:0", workers: workers))
        let endpoints = try server.start()
        defer { server.stop() }
        let echo = try EchoServer()

        let request: [UInt8] = try Zserve_V1_PredictRequest.with {
            $0.id = "bench"
            $0.model.name = "purchase_propensity"
            $0.inputs = [.with {
                $0.name = "features"
                $0.dtype = .float32
                $0.shape = [1, 8]
                $0.rawData = [Float](arrayLiteral: 30, 5, 900, 180, 40, 300, 0.1, 1).withUnsafeBytes { Data($0) }
            }]
        }.serializedBytes()
        // A REQ socket adds the empty delimiter itself.
        let frames = Array(Envelope.request(.predict, payload: request).dropFirst())

        let context = try Context()
        let zserveClient = try Socket(context: context, type: .request)
        let echoClient = try Socket(context: context, type: .request)
        try zserveClient.connect(endpoints.frontend)
        try echoClient.connect(echo.endpoint)

        var zserveSamples: [UInt64] = []
        var echoSamples: [UInt64] = []
        let block = 1000
        _ = try measure(zserveClient, frames, 2000)
        _ = try measure(echoClient, frames, 2000)
        for _ in 0..<(iterations / block) {
            zserveSamples += try measure(zserveClient, frames, block)
            echoSamples += try measure(echoClient, frames, block)
        }
        zserveClient.close()
        echoClient.close()
        echo.stop()

        let z = Percentiles(zserveSamples), e = Percentiles(echoSamples)
        if json {
            let object: [String: Any] = [
                "iterations": zserveSamples.count, "workers": workers,
                "zserve_p50_us": z.p50, "zserve_p99_us": z.p99, "echo_p50_us": e.p50, "echo_p99_us": e.p99,
                "p50_ratio": z.p50 / e.p50, "p99_ratio": z.p99 / e.p99,
            ]
            let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
            print(String(decoding: data, as: UTF8.self))
        } else {
            print("round trips: \(zserveSamples.count) each, \(workers) worker(s), tcp loopback, batch 1")
            print(String(format: "zserve predict   p50 %7.1f µs   p99 %7.1f µs", z.p50, z.p99))
            print(String(format: "libzmq echo      p50 %7.1f µs   p99 %7.1f µs", e.p50, e.p99))
            print(String(format: "ratio            p50 %7.2f×     p99 %7.2f×", z.p50 / e.p50, z.p99 / e.p99))
        }
    }

    private func measure(_ socket: Socket, _ frames: [[UInt8]], _ count: Int) throws -> [UInt64] {
        var samples: [UInt64] = []
        samples.reserveCapacity(count)
        for _ in 0..<count {
            let start = DispatchTime.now().uptimeNanoseconds
            try socket.send(frames)
            guard let reply = try socket.receive(), let envelope = try? ReplyEnvelope(frames: reply),
                  envelope.status.code == .ok
            else { throw ValidationError("the server did not answer OK; is --model-repository right?") }
            samples.append(DispatchTime.now().uptimeNanoseconds - start)
        }
        return samples
    }
}

/// Percentiles of nanosecond samples, in microseconds.
struct Percentiles {
    let p50: Double
    let p99: Double

    init(_ samples: [UInt64]) {
        let sorted = samples.sorted()
        func at(_ q: Double) -> Double { Double(sorted[min(sorted.count - 1, Int(q * Double(sorted.count)))]) / 1000 }
        p50 = at(0.5)
        p99 = at(0.99)
    }
}
