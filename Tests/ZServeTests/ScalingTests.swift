import Foundation
import ServingProtocol
import Synchronization
import Testing
import ZServe
import ZServeClient
import ZServeTesting
import ZeroMQ

/// Changing the worker count while requests flow.
@Suite struct ScalingTests {
    /// Continuous pipelined load on the slow model until `stop`; counts replies by status code.
    final class Load: Sendable {
        let codes = Mutex<[Zserve_V1_Code: Int]>([:])
        let stop = Mutex(false)
        let finished = DispatchSemaphore(value: 0)

        func start(endpoint: String) {
            Thread { [self] in
                defer { finished.signal() }
                guard let context = try? Context(), let dealer = try? Socket(context: context, type: .dealer) else { return }
                defer { dealer.close() }
                try? dealer.setReceiveTimeout(30_000)
                try? dealer.connect(endpoint)
                var sent = 0, received = 0
                // Eight in flight: send until eight are outstanding, then one per reply.
                while !(stop.withLock { $0 }) || received < sent {
                    if !(stop.withLock { $0 }) && sent - received < 8 {
                        _ = try? dealer.send(try! Envelope.request(.predict, slowRequest(id: "\(sent)")))
                        sent += 1
                        continue
                    }
                    guard let reply = try? dealer.receive(), reply.count == 3,
                          let status = try? Zserve_V1_Status(serializedBytes: reply[1])
                    else { break }
                    received += 1
                    codes.withLock { $0[status.code, default: 0] += 1 }
                }
            }.start()
        }
    }

    @Test func scalingOneToFourToOneUnderLoadFailsNoRequest() throws {
        let repository = try TemporaryRepository()
        try repository.add("slow", bytes: try slowModel())
        let running = try RunningServer(repository: repository, workers: 1) {
            $0.admin = "tcp://127.0.0.1:0"
            $0.pollInterval = nil
        }
        let admin = try Client(endpoint: running.adminEndpoint!, timeoutMilliseconds: 30_000)
        let load = Load()
        load.start(endpoint: running.endpoint)

        let up = try admin.scaleWorkers(to: 4)
        #expect((up.previous, up.workers) == (1, 4))
        try waitForWorkers(admin, 4)
        let down = try admin.scaleWorkers(to: 1)
        #expect((down.previous, down.workers) == (4, 1))
        try waitForWorkers(admin, 1)
        load.stop.withLock { $0 = true }
        load.finished.wait()

        let codes = load.codes.withLock { $0 }
        #expect(codes.keys.allSatisfy { $0 == .ok }, "every request succeeds: \(codes)")
        #expect(codes[.ok, default: 0] > 0)
        #expect(throws: Client.Failure.self) { try admin.scaleWorkers(to: -1) }
        #expect(try running.client().predict(slowRequest(id: "after")).outputs.count == 1)
    }
}

/// Waits (up to 30 s) until the server reports `count` workers.
func waitForWorkers(_ client: Client, _ count: Int32) throws {
    for _ in 0..<600 where try client.listModels().workers != count {
        Thread.sleep(forTimeInterval: 0.05)
    }
    #expect(try client.listModels().workers == count)
}

/// Autoscaling from queue depth.
@Suite struct AutoscaleTests {
    @Test func workersGrowUnderQueueingAndShrinkWhenQuiet() throws {
        let repository = try TemporaryRepository()
        try repository.add("slow", bytes: try slowModel())
        let running = try RunningServer(repository: repository, workers: 1) {
            $0.autoscale = 1...3
            $0.pollInterval = nil
        }
        let client = try running.client()
        let load = ScalingTests.Load()
        load.start(endpoint: running.endpoint)
        try waitForWorkers(client, 3)
        load.stop.withLock { $0 = true }
        load.finished.wait()
        try waitForWorkers(client, 1)
        #expect(load.codes.withLock { $0 }.keys.allSatisfy { $0 == .ok })
    }
}

/// The load generator against a real server.
@Suite struct LoadGeneratorTests {
    @Test func closedAndOpenLoopsCountEveryReply() throws {
        let running = try RunningServer(repository: try standardRepository())
        let context = try Context()
        let generator = try LoadGenerator(endpoints: [running.endpoint], template: propensityRequest(), context: context)
        let closed = try generator.run(.closed(concurrency: 8), duration: 0.3)
        #expect(closed.requests > 0)
        #expect(closed.statusCounts == ["OK": closed.requests])
        #expect((closed.percentiles[99] ?? 0) >= (closed.percentiles[50] ?? 0))

        let open = try LoadGenerator(endpoints: [running.endpoint], template: propensityRequest(), context: context)
            .run(.open(ratePerSecond: 200), duration: 0.5)
        #expect((99...101).contains(open.requests), "the open loop sends on its schedule: \(open.requests)")
        #expect(open.statusCounts == ["OK": open.requests])

        var unknown = propensityRequest()
        unknown.model.name = "nope"
        let failing = try LoadGenerator(endpoints: [running.endpoint], template: unknown, context: context)
            .run(.closed(concurrency: 2), duration: 0.2)
        #expect(failing.statusCounts.keys.sorted() == ["NOT_FOUND"])
    }
}
