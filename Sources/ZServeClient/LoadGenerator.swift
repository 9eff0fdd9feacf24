import Dispatch
import Foundation
import Histogram
import ServingProtocol
import SwiftProtobuf
import Synchronization
import ZeroMQ

/// Drives Predict load at a server over one or more sockets on one or more threads and merges every latency into one
/// HdrHistogram.
///
/// Closed loop keeps `concurrency` requests in flight in total, spread evenly over the connections. Open loop sends at
/// a fixed total rate, each thread its share on its own evenly offset schedule, and measures each latency from the
/// request's *intended* send time, so a server that falls behind shows its queueing instead of hiding it (coordinated
/// omission).
///
/// Each thread opens its own sockets on the shared context (a libzmq socket belongs to one thread) and keeps its own
/// histogram; they are merged when the run ends. A DEALER request carries one 8-byte routing frame before the
/// delimiter, its (intended) send time, which every server speaking the protocol returns unchanged
/// (docs/protocol.md), so replies are matched without decoding the response and any such server can be measured —
/// ZServe, a raw libzmq echo, a peer. A REQ socket holds one request at a time, so with `.request` sockets closed loop
/// opens one socket per request in flight and open loop is not offered.
///
/// The generator is immutable and `Sendable`; `run` blocks the calling thread until the run and its drain end.
public final class LoadGenerator: Sendable {
    public enum Mode: Sendable {
        case closed(concurrency: Int)
        case open(ratePerSecond: Double)
    }

    /// The client socket type requests are sent on.
    public enum SocketKind: String, Sendable, CaseIterable {
        /// Many requests in flight per socket, matched by a tag routing frame.
        case dealer
        /// One request in flight per socket (lock-step send/receive).
        case request = "req"
    }

    /// How the load is spread.
    public struct Options: Sendable {
        /// Sockets in total (DEALER); ignored for REQ, which opens one per request in flight.
        public var connections: Int
        /// Threads the sockets are spread over; at most one per socket.
        public var threads: Int
        public var socket: SocketKind

        public init(connections: Int = 1, threads: Int = 1, socket: SocketKind = .dealer) {
            self.connections = connections
            self.threads = threads
            self.socket = socket
        }
    }

    /// What a run measured.
    public struct Report: Sendable {
        public var requests = 0
        public var duration: Double = 0
        public var statusCounts: [String: Int] = [:]
        /// Latency percentiles in microseconds, by percentile (50, 90, 99, 99.9).
        public var percentiles: [Double: Double] = [:]
        /// Sockets and threads the run used.
        public var connections = 0
        public var threads = 0
        public var throughput: Double { duration > 0 ? Double(requests) / duration : 0 }
    }

    /// A configuration the generator cannot run, or a thread that failed.
    public struct Failure: Error, CustomStringConvertible, Sendable {
        public let description: String
    }

    private let endpoints: [String]
    private let method: Method
    private let payload: [UInt8]
    private let context: Context
    private let curve: CurveClientCredentials?
    private let options: Options

    /// - Parameters:
    ///   - template: the request sent each time, encoded once (requests are matched by their tag frame, not their id).
    ///   - curve: credentials for a frontend that requires CurveZMQ.
    public convenience init(
        endpoints: [String], template: Zserve_V1_PredictRequest, context: Context, curve: CurveClientCredentials? = nil,
        options: Options = Options()
    ) throws {
        var request = template
        if request.id.isEmpty { request.id = "bench" }
        self.init(endpoints: endpoints, method: .predict, payload: try request.serializedBytes(), context: context,
                  curve: curve, options: options)
    }

    /// A generator sending `payload` under `method` as it is.
    public init(
        endpoints: [String], method: Method, payload: [UInt8], context: Context, curve: CurveClientCredentials? = nil,
        options: Options = Options()
    ) {
        self.endpoints = endpoints
        self.method = method
        self.payload = payload
        self.context = context
        self.curve = curve
        self.options = options
    }

    /// Runs for `duration` seconds, then waits up to `drainTimeout` for replies still outstanding; those that never
    /// come are counted under "NO_REPLY".
    ///
    /// - Parameter progress: called on the calling thread about once a second with the requests so far (summed over
    ///   threads) and the highest p99 among the threads.
    /// - Throws: `Failure` for open loop on REQ sockets or a thread's socket error.
    public func run(
        _ mode: Mode, duration: Double, drainTimeout: Double = 10, progress: (Report) -> Void = { _ in }
    ) throws -> Report {
        let plan = try LoadPlan(mode: mode, options: options)
        let threads = plan.perThread.count
        let shared = LoadRunShared(threads: threads)
        let frames = Envelope.request(method, payload: payload)
        for index in 0..<threads {
            let work = LoadThreadWork(
                context: context, endpoints: endpoints, curve: curve, socket: options.socket, frames: frames,
                share: plan.perThread[index], duration: duration, drainTimeout: drainTimeout)
            let thread = Thread { LoadThread.run(work, index: index, shared: shared) }
            thread.name = "bench-\(index)"
            thread.start()
        }
        // Start together once every thread has its sockets, so connection set-up is not counted as load.
        for _ in 0..<threads { shared.ready.wait() }
        let start = DispatchTime.now().uptimeNanoseconds
        shared.start.withLock { $0 = start }
        for _ in 0..<threads { shared.go.signal() }

        var finished = 0
        var nextProgress = start + 1_000_000_000
        while finished < threads {
            if shared.finished.wait(timeout: .init(uptimeNanoseconds: nextProgress)) == .success {
                finished += 1
                continue
            }
            let now = DispatchTime.now().uptimeNanoseconds
            nextProgress = now + 1_000_000_000
            let elapsed = Double(now - start) / 1e9
            if elapsed <= duration {
                let (requests, p99) = shared.progress.withLock { slots in
                    (slots.reduce(0) { $0 + $1.requests }, slots.map(\.p99).max() ?? 0)
                }
                progress(Report(requests: requests, duration: elapsed, percentiles: [99: p99],
                                connections: plan.connections, threads: threads))
            }
        }
        let results = shared.results.withLock { $0 }
        if let failure = results.compactMap({ $0?.failure }).first { throw Failure(description: failure) }
        var histogram = LoadThread.makeHistogram()
        var report = Report(connections: plan.connections, threads: threads)
        for case let result? in results {
            histogram.add(result.histogram)
            report.requests += result.requests
            report.statusCounts.merge(result.statusCounts, uniquingKeysWith: +)
        }
        report.duration = duration
        for percentile in [50.0, 90, 99, 99.9] {
            report.percentiles[percentile] = Double(histogram.valueAtPercentile(percentile))
        }
        return report
    }
}

/// How a run's connections and load are divided among threads.
struct LoadPlan {
    /// Per thread: what each of its sockets keeps in flight (closed loop; 1 for REQ) and its share of the rate.
    struct Share: Sendable {
        var inFlight: [Int]
        /// Open loop: requests per second of this thread, and its first send's offset in seconds.
        var rate: Double?
        var offset: Double = 0
    }

    let perThread: [Share]
    var connections: Int { perThread.reduce(0) { $0 + $1.inFlight.count } }

    init(mode: LoadGenerator.Mode, options: LoadGenerator.Options) throws(LoadGenerator.Failure) {
        guard options.connections >= 1, options.threads >= 1 else {
            throw .init(description: "connections and threads must be at least 1")
        }
        switch (mode, options.socket) {
        case (.closed(let concurrency), _):
            guard concurrency >= 1 else { throw .init(description: "concurrency must be at least 1") }
            // No socket without a request in flight: at most `concurrency` sockets (exactly that many REQ sockets).
            let sockets = options.socket == .request ? concurrency : min(options.connections, concurrency)
            let perSocket = Self.split(concurrency, into: sockets)
            let socketsPerThread = Self.split(sockets, into: min(options.threads, sockets))
            var next = 0
            perThread = socketsPerThread.map { count in
                defer { next += count }
                return Share(inFlight: Array(perSocket[next..<(next + count)]))
            }
        case (.open, .request):
            throw .init(description: "open loop needs DEALER sockets: a REQ socket cannot send while it waits")
        case (.open(let rate), .dealer):
            guard rate > 0 else { throw .init(description: "the rate must be positive") }
            let threads = min(options.threads, options.connections)
            perThread = Self.split(options.connections, into: threads).enumerated().map { index, sockets in
                Share(inFlight: Array(repeating: 0, count: sockets), rate: rate / Double(threads),
                      offset: Double(index) / rate)
            }
        }
    }

    /// `total` split into `parts` counts that differ by at most one, larger first.
    static func split(_ total: Int, into parts: Int) -> [Int] {
        (0..<parts).map { total / parts + ($0 < total % parts ? 1 : 0) }
    }
}
