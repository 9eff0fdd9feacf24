import ArgumentParser
import Dispatch
import Foundation
import Inference

/// `zserve perf`: runs a model in-process (no sockets) and reports per-batch latency.
struct PerfCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "perf",
        abstract: "Time a model in-process: median and p99 latency per batch.",
        discussion: """
            Inputs are generated from the model's declared shapes: the first dimension of any size becomes --batch,
            other dimensions of any size become 1; floats are uniform in [-1, 1), integers 0, bools false.
            --inputs DIR reads them instead from DIR/input_<i>.pb (ONNX test-data TensorProtos, one per model input
            in order): up to 32 batches of consecutive rows, used in turn (rows wrap around when there are too few).
            Tree models need realistic and changing features: uniform ones send every row down the same path, and
            one repeated row lets the branch predictor learn it.
            --json prints {"batch", "p50_us", "p99_us", "mean_us", "iterations", "threads", "blas_kernels"}.
            --profile adds each node's mean time (standard error beside --json); timing every node costs a little.
            """
    )

    @Argument(help: "The ONNX model file.")
    var model: String

    @Option(help: "Rows per run (the first dimension of any size).")
    var batch: Int = 1

    @Option(help: "Timed runs.")
    var iterations: Int = 1000

    @Option(help: "Untimed runs first.")
    var warmup: Int = 100

    @Option(help: "Threads per model run (matrix products and large loops split across them).")
    var threads: Int = 1

    @Option(help: "A directory of input_<i>.pb TensorProtos to take input rows from (instead of random values).")
    var inputs: String?

    @Flag(help: "Print one JSON object.")
    var json = false

    @Flag(help: "Also time every node (after fusion) and print each one's mean time and share, slowest first.")
    var profile = false

    func validate() throws {
        guard batch >= 1, iterations >= 1, warmup >= 0, threads >= 1 else {
            throw ValidationError("--batch, --iterations and --threads must be at least 1, --warmup at least 0")
        }
    }

    func run() throws {
        Parallelism.setThreadCount(threads)
        let loaded = try Model(contentsOf: URL(fileURLWithPath: model))
        let session = loaded.makeSession()
        var generator = SystemRandomNumberGenerator()
        // One input set, or with --inputs up to 32 different ones taken in turn (distinct rows per run, as a server
        // sees them: a single repeated row would let the branch predictor learn every tree's path).
        let inputSets: [[Tensor]]
        if let directory = self.inputs {
            let sources = try loaded.inputs.indices.map { position in
                try Tensor(serializedTensorProto: Data(contentsOf: URL(fileURLWithPath: directory)
                    .appendingPathComponent("input_\(position).pb")))
            }
            let available = sources.map { $0.rank >= 1 ? $0.shape[0] : 0 }.min() ?? 0
            let sets = max(1, min(32, available / batch))
            inputSets = try (0..<sets).map { set in
                try sources.map { try Self.rows(of: $0, batch: batch, from: set * batch) }
            }
        } else {
            inputSets = [try loaded.inputs.map { spec in try Self.input(for: spec, batch: batch, using: &generator) }]
        }
        var turn = 0

        func runOnce() throws {
            let inputs = inputSets[turn % inputSets.count]
            turn += 1
            for (position, input) in inputs.enumerated() { try session.setInput(position, input) }
            _ = try session.run()
        }
        for _ in 0..<warmup { try runOnce() }
        if profile { session.profile = NodeProfile(model: loaded) }
        var samples = [UInt64](repeating: 0, count: iterations)
        for index in 0..<iterations {
            let start = DispatchTime.now().uptimeNanoseconds
            try runOnce()
            samples[index] = DispatchTime.now().uptimeNanoseconds - start
        }
        samples.sort()
        func microseconds(_ quantile: Double) -> Double {
            Double(samples[min(samples.count - 1, Int(quantile * Double(samples.count)))]) / 1000
        }
        let mean = Double(samples.reduce(0, +)) / Double(samples.count) / 1000
        if let nodes = session.profile {
            // Beside --json the table goes to standard error, so standard output stays one JSON object.
            let table = Self.report(nodes, runs: iterations).joined(separator: "\n") + "\n"
            if json { FileHandle.standardError.write(Data(table.utf8)) } else { print(table, terminator: "") }
        }
        if json {
            try printJSON([
                "batch": batch, "p50_us": microseconds(0.5), "p99_us": microseconds(0.99), "mean_us": mean,
                "iterations": iterations, "threads": threads, "blas_kernels": BLAS.coreName,
            ])
        } else {
            print(String(format: "batch %d, %d runs, %d thread(s): p50 %.1f µs, p99 %.1f µs, mean %.1f µs",
                         batch, iterations, threads, microseconds(0.5), microseconds(0.99), mean)
                  + ", OpenBLAS kernels \(BLAS.coreName)")
        }
    }

    /// Lines giving each node's mean time per run and share of the nodes' total, slowest first.
    static func report(_ profile: NodeProfile, runs: Int) -> [String] {
        func microseconds(_ duration: Duration) -> Double {
            let (seconds, attoseconds) = duration.components
            return (Double(seconds) * 1e6 + Double(attoseconds) / 1e12) / Double(runs)
        }
        let total = profile.entries.reduce(0) { $0 + microseconds($1.total) }
        let lines = profile.entries.sorted(by: { $0.total > $1.total }).map { entry in
            let time = microseconds(entry.total)
            return String(format: "%10.1f µs %5.1f%%  ", time, total > 0 ? 100 * time / total : 0) + entry.label
        }
        return lines + [String(format: "%10.1f µs in nodes per run", total)]
    }

    /// `batch` rows of `tensor` (its first dimension) from row `start` on, wrapping around as often as needed.
    static func rows(of tensor: Tensor, batch: Int, from start: Int = 0) throws -> Tensor {
        guard tensor.rank >= 1, tensor.shape[0] > 0 else {
            throw ValidationError("--inputs: a tensor of shape \(tensor.shape) has no rows to take")
        }
        if tensor.elementType == .string {
            let width = tensor.count / tensor.shape[0]
            let strings = tensor.strings
            let rows = (0..<batch).flatMap { row in
                let from = ((start + row) % tensor.shape[0]) * width
                return strings[from..<(from + width)]
            }
            return Tensor(strings: rows, shape: [batch] + tensor.shape.dropFirst())
        }
        let rowBytes = tensor.byteCount / tensor.shape[0]
        var bytes = [UInt8](repeating: 0, count: rowBytes * batch)
        let source = tensor.bytes
        for row in 0..<batch {
            let from = ((start + row) % tensor.shape[0]) * rowBytes
            for offset in 0..<rowBytes { bytes[row * rowBytes + offset] = source[from + offset] }
        }
        return bytes.withUnsafeBytes {
            Tensor(elementType: tensor.elementType, shape: [batch] + tensor.shape.dropFirst(), copying: $0)
        }
    }

    /// A random input for `spec` (zeros for integers, empty strings for strings): the first dimension of any size is the
    /// batch, others 1.
    static func input(for spec: TensorSpec, batch: Int, using generator: inout some RandomNumberGenerator) throws -> Tensor {
        let declared = spec.shape ?? []
        let shape = declared.enumerated().map { axis, dim in dim ?? (axis == 0 ? batch : 1) }
        try shape.validateShape()
        let count = shape.elementCount
        switch spec.elementType {
        case .float32:
            return Tensor(float32: (0..<count).map { _ in Float.random(in: -1..<1, using: &generator) }, shape: shape)
        case .string:
            return Tensor(strings: repeatElement("", count: count), shape: shape)
        default:
            let bytes = [UInt8](repeating: 0, count: count * spec.elementType.byteSize)
            return bytes.withUnsafeBytes { Tensor(elementType: spec.elementType, shape: shape, copying: $0) }
        }
    }
}
