import Dispatch
import Foundation
import Histogram
import ServingProtocol
import Synchronization
import ZeroMQ

/// What one load thread needs, handed to it when it starts.
struct LoadThreadWork: Sendable {
    let context: Context
    let endpoints: [String]
    let curve: CurveClientCredentials?
    let socket: LoadGenerator.SocketKind
    /// [empty][method][payload]: what every request sends after its tag.
    let frames: [[UInt8]]
    let share: LoadPlan.Share
    let duration: Double
    let drainTimeout: Double
}

/// What the threads of one run share with the thread that started them: start-up hand-shake, progress, results.
final class LoadRunShared: Sendable {
    /// A thread's count so far, published about once a second.
    struct Progress: Sendable {
        var requests = 0
        var p99: Double = 0
    }

    /// What a thread measured, or why it stopped.
    struct Result: Sendable {
        var histogram: Histogram<UInt64>
        var requests = 0
        var statusCounts: [String: Int] = [:]
        var failure: String?
    }

    /// Signalled by each thread once its sockets are open.
    let ready = DispatchSemaphore(value: 0)
    /// Signalled once per thread when the start time is set.
    let go = DispatchSemaphore(value: 0)
    /// Signalled by each thread when it has stored its result.
    let finished = DispatchSemaphore(value: 0)
    let start = Mutex<UInt64>(0)
    let progress: Mutex<[Progress]>
    let results: Mutex<[Result?]>

    init(threads: Int) {
        progress = Mutex(Array(repeating: Progress(), count: threads))
        results = Mutex(Array(repeating: nil, count: threads))
    }
}

/// One thread's share of a load run: its own sockets, in-flight counts and histogram.
///
/// Created and used on one thread only (its sockets belong to that thread), so not `Sendable`.
final class LoadThread {
    private let work: LoadThreadWork
    private let sockets: [Socket]
    private let poller: Poller
    private var inFlight: [Int]
    /// REQ sockets: when each one's request was sent.
    private var sentAt: [UInt64]
    private var result = LoadRunShared.Result(histogram: LoadThread.makeHistogram())

    /// Open loop: the longest nap between two sends less than a millisecond apart.
    static let napMicroseconds: UInt64 = 50

    /// How often a thread publishes its progress.
    static let progressInterval: UInt64 = 250_000_000

    static func makeHistogram() -> Histogram<UInt64> {
        Histogram(highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: .three)
    }

    /// Runs thread `index` of a load run to the end and stores its result in `shared`; never throws (a failure is
    /// stored as the result).
    static func run(_ work: LoadThreadWork, index: Int, shared: LoadRunShared) {
        var opened: LoadThread?
        var failure: String?
        do {
            opened = try LoadThread(work)
        } catch {
            failure = "opening sockets: \(error)"
        }
        shared.ready.signal()
        shared.go.wait()
        var result = LoadRunShared.Result(histogram: makeHistogram(), failure: failure)
        if let thread = opened {
            let start = shared.start.withLock { $0 }
            do {
                try thread.load(from: start, index: index, shared: shared)
            } catch {
                thread.result.failure = "load thread \(index): \(error)"
            }
            thread.close()
            result = thread.result
        }
        shared.results.withLock { $0[index] = result }
        shared.finished.signal()
    }

    private init(_ work: LoadThreadWork) throws {
        self.work = work
        var sockets: [Socket] = []
        for _ in work.share.inFlight {
            let socket = try Socket(context: work.context, type: work.socket == .dealer ? .dealer : .request)
            try socket.setReceiveHighWaterMark(0)
            try socket.setSendHighWaterMark(0)
            try work.curve?.apply(to: socket)
            // With several servers, each socket spreads its requests over them.
            for endpoint in work.endpoints { try socket.connect(endpoint) }
            sockets.append(socket)
        }
        self.sockets = sockets
        poller = Poller(sockets)
        inFlight = Array(repeating: 0, count: sockets.count)
        sentAt = Array(repeating: 0, count: sockets.count)
    }

    private func close() {
        sockets.forEach { $0.close() }
    }

    private func load(from start: UInt64, index: Int, shared: LoadRunShared) throws {
        let end = start + UInt64(work.duration * 1e9)
        var nextProgress = start + Self.progressInterval
        var sent = 0
        var next = 0
        let interval = work.share.rate.map { 1e9 / $0 } ?? 0
        let offset = work.share.offset * 1e9
        while true {
            let now = DispatchTime.now().uptimeNanoseconds
            if now >= end { break }
            if now >= nextProgress {
                nextProgress = now + Self.progressInterval
                let snapshot = LoadRunShared.Progress(
                    requests: result.requests, p99: Double(result.histogram.valueAtPercentile(99)))
                shared.progress.withLock { $0[index] = snapshot }
            }
            var timeout = 100
            if work.share.rate == nil {
                for socket in sockets.indices where inFlight[socket] < work.share.inFlight[socket] {
                    while inFlight[socket] < work.share.inFlight[socket] {
                        try send(on: socket, at: DispatchTime.now().uptimeNanoseconds)
                    }
                }
            } else {
                let intended = start + UInt64(offset + Double(sent) * interval)
                if intended <= now {
                    try send(on: next, at: intended)
                    next = (next + 1) % sockets.count
                    sent += 1
                    continue
                }
                timeout = Int((intended - now) / 1_000_000)
                if timeout == 0 {
                    // zmq_poll waits in whole milliseconds: for a shorter wait take what has arrived, then nap in
                    // short steps rather than spin, so the generator leaves the shared cores to the server. A reply
                    // is then timed up to one step late.
                    try receiveReady(timeoutMilliseconds: 0)
                    usleep(UInt32(min(Self.napMicroseconds, (intended - now) / 1000)))
                    continue
                }
            }
            try receiveReady(timeoutMilliseconds: timeout)
        }
        let drainEnd = DispatchTime.now().uptimeNanoseconds + UInt64(work.drainTimeout * 1e9)
        while inFlight.contains(where: { $0 > 0 }), DispatchTime.now().uptimeNanoseconds < drainEnd {
            try receiveReady(timeoutMilliseconds: 100)
        }
        let missing = inFlight.reduce(0, +)
        if missing > 0 {
            result.statusCounts["NO_REPLY", default: 0] += missing
            result.requests += missing
        }
    }

    private func send(on socket: Int, at time: UInt64) throws {
        inFlight[socket] += 1
        if work.socket == .request {
            sentAt[socket] = time
            // A REQ socket adds the empty delimiter itself.
            try sockets[socket].send(Array(work.frames.dropFirst()))
        } else {
            let tag = withUnsafeBytes(of: time.littleEndian) { Array($0) }
            try sockets[socket].send([tag] + work.frames)
        }
    }

    private func receiveReady(timeoutMilliseconds: Int) throws {
        let readable = try poller.poll(timeoutMilliseconds: timeoutMilliseconds)
        for socket in readable.indices where readable[socket] {
            while let frames = try sockets[socket].receive(wait: false) {
                record(frames, on: socket, at: DispatchTime.now().uptimeNanoseconds)
                // A REQ socket has one reply to give; asking for another before sending is an error (EFSM).
                if work.socket == .request { break }
            }
        }
    }

    /// Counts one reply: DEALER `[tag][empty][status][response]`, REQ `[status][response]`.
    private func record(_ frames: [[UInt8]], on socket: Int, at now: UInt64) {
        inFlight[socket] = max(0, inFlight[socket] - 1)
        result.requests += 1
        let sent: UInt64
        let body: ArraySlice<[UInt8]>
        if work.socket == .request {
            sent = sentAt[socket]
            body = frames[...]
        } else {
            guard frames.count == 4, frames[0].count == 8, frames[1].isEmpty else {
                result.statusCounts["MALFORMED_REPLY", default: 0] += 1
                return
            }
            sent = frames[0].withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
            body = frames[2...]
        }
        guard body.count == 2, let status = try? Zserve_V1_Status(serializedBytes: body[body.startIndex]) else {
            result.statusCounts["MALFORMED_REPLY", default: 0] += 1
            return
        }
        result.statusCounts[status.code.name, default: 0] += 1
        _ = result.histogram.record(now >= sent ? (now - sent) / 1000 : 0)
    }
}
