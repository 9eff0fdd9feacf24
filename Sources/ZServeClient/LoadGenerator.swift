import Dispatch
import Foundation
import Histogram
import ServingProtocol
import SwiftProtobuf
import ZeroMQ

/// Drives Predict load at a server over one DEALER socket and records latency in an HdrHistogram.
///
/// Closed loop keeps `concurrency` requests in flight. Open loop sends at a fixed rate and measures each latency from
/// the request's *intended* send time, so a server that falls behind shows its queueing instead of hiding it
/// (coordinated omission). Runs on the calling thread; not thread-safe.
public final class LoadGenerator {
    public enum Mode: Sendable {
        case closed(concurrency: Int)
        case open(ratePerSecond: Double)
    }

    /// What a run measured.
    public struct Report: Sendable {
        public var requests = 0
        public var duration: Double = 0
        public var statusCounts: [String: Int] = [:]
        /// Latency percentiles in microseconds, by percentile (50, 90, 99, 99.9).
        public var percentiles: [Double: Double] = [:]
        public var throughput: Double { duration > 0 ? Double(requests) / duration : 0 }
    }

    private let socket: Socket
    private let template: Zserve_V1_PredictRequest
    private var histogram = Histogram<UInt64>(highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: .three)
    /// Send time (intended, for open loop) of each request in flight, by id.
    private var started: [UInt64: UInt64] = [:]
    private var nextID: UInt64 = 0
    private var report = Report()

    /// - Parameters:
    ///   - template: the request sent each time (its id is replaced).
    ///   - curve: credentials for a frontend that requires CurveZMQ.
    public init(
        endpoints: [String], template: Zserve_V1_PredictRequest, context: Context, curve: CurveClientCredentials? = nil
    ) throws {
        socket = try Socket(context: context, type: .dealer)
        try socket.setReceiveHighWaterMark(0)
        try socket.setSendHighWaterMark(0)
        try curve?.apply(to: socket)
        // With several servers, DEALER spreads the requests over them.
        for endpoint in endpoints { try socket.connect(endpoint) }
        self.template = template
    }

    deinit { socket.close() }

    /// Runs for `duration` seconds, then waits up to `drainTimeout` for replies still outstanding; those that never
    /// come are counted under "NO_REPLY".
    ///
    /// - Parameter progress: called about once a second with the report so far.
    public func run(
        _ mode: Mode, duration: Double, drainTimeout: Double = 10, progress: (Report) -> Void = { _ in }
    ) throws -> Report {
        let start = DispatchTime.now().uptimeNanoseconds
        let end = start + UInt64(duration * 1e9)
        var nextProgress = start + 1_000_000_000
        let poller = Poller([socket])
        var sent = 0
        while true {
            let now = DispatchTime.now().uptimeNanoseconds
            if now >= end { break }
            switch mode {
            case .closed(let concurrency):
                while started.count < concurrency {
                    try send(at: DispatchTime.now().uptimeNanoseconds)
                }
                if try poller.poll(timeoutMilliseconds: 100)[0] { try receiveAll() }
            case .open(let rate):
                let intended = start + UInt64(Double(sent) * 1e9 / rate)
                if intended <= now {
                    try send(at: intended)
                    sent += 1
                    continue
                }
                let waitMilliseconds = Int((intended - now) / 1_000_000)
                if try poller.poll(timeoutMilliseconds: waitMilliseconds)[0] { try receiveAll() }
            }
            if now >= nextProgress {
                nextProgress += 1_000_000_000
                progress(snapshot(elapsed: Double(now - start) / 1e9))
            }
        }
        let drainEnd = DispatchTime.now().uptimeNanoseconds + UInt64(drainTimeout * 1e9)
        while !started.isEmpty, DispatchTime.now().uptimeNanoseconds < drainEnd {
            if try poller.poll(timeoutMilliseconds: 100)[0] { try receiveAll() }
        }
        if !started.isEmpty {
            report.statusCounts["NO_REPLY", default: 0] += started.count
            report.requests += started.count
            started.removeAll()
        }
        return snapshot(elapsed: Double(end - start) / 1e9)
    }

    private func send(at time: UInt64) throws {
        var request = template
        request.id = String(nextID)
        started[nextID] = time
        nextID += 1
        try socket.send(try Envelope.request(.predict, request))
    }

    private func receiveAll() throws {
        while let frames = try socket.receive(wait: false) {
            let now = DispatchTime.now().uptimeNanoseconds
            guard let status = try? ReplyEnvelope(frames: frames).status,
                  let id = UInt64(status.requestID), let sentAt = started.removeValue(forKey: id)
            else {
                report.statusCounts["MALFORMED_REPLY", default: 0] += 1
                continue
            }
            report.requests += 1
            report.statusCounts[status.code.name, default: 0] += 1
            _ = histogram.record((now - sentAt) / 1000)
        }
    }

    private func snapshot(elapsed: Double) -> Report {
        var result = report
        result.duration = elapsed
        for percentile in [50.0, 90, 99, 99.9] {
            result.percentiles[percentile] = Double(histogram.valueAtPercentile(percentile))
        }
        return result
    }
}
