import Testing
@testable import ZServe

/// `--inline-compute-us`: work whose model's recent runs say it is cheap is computed on the broker thread for a
/// local worker instead of waking it; the rest, remote workers' work and models not run yet go to the worker.
@Suite struct InlineComputeTests {
    /// The requests kept on the broker thread, by the worker they count against.
    func computed(_ actions: [BrokerAction]) -> [String: [WorkItem]] {
        dispatched(actions, computedInline: true)
    }

    @Test func cheapWorkForALocalWorkerIsComputedInlineAndTheWorkerCountsBusyUntilItsResult() throws {
        let harness = try CoreHarness { $0.inlineCompute = .microseconds(50); $0.maxBatchSize = 4 }
        _ = harness.worker("w", .ready(heartbeats: false))
        // Not run yet: no estimate, so the worker gets it and measures it.
        let first = try harness.predict("r0")
        #expect(dispatched(first)["w"]?.count == 1 && computed(first).isEmpty)
        _ = harness.finish("w", dispatched(first)["w"]!)

        harness.registry.servable(VersionKey(model: "m", version: 1))!.recordCompute(nanoseconds: 10_000, requests: 1)
        let cheap = try harness.predict("r1")
        #expect(computed(cheap)["w"]?.map(\.header.requestID) == ["r1"])
        #expect(dispatched(cheap).isEmpty, "the worker thread is not woken")
        let waiting = try harness.predict("r2")
        #expect(computed(waiting).isEmpty && dispatched(waiting).isEmpty, "the worker counts busy until the result comes back")
        let next = harness.finish("w", computed(cheap)["w"]!)
        #expect(try replies(next).map(\.client) == ["r1"])
        #expect(computed(next)["w"]?.map(\.header.requestID) == ["r2"])
    }

    @Test func betweenTwoWaitsTheBrokerComputesAtMostItsBudget() throws {
        let harness = try CoreHarness { $0.inlineCompute = .microseconds(500) }
        _ = harness.worker("w", .ready(heartbeats: false))
        harness.registry.servable(VersionKey(model: "m", version: 1))!.recordCompute(nanoseconds: 400_000, requests: 1)
        // A queue behind a busy worker, freed at once: two runs of 400 µs fit the 1 ms budget, the third goes to the
        // worker thread, so the loop gets back to its sockets instead of computing the whole queue here.
        let first = try harness.predict("r0")
        #expect(computed(first)["w"]?.map(\.header.requestID) == ["r0"])
        for i in 1...3 {
            let queued = try harness.predict("r\(i)")
            #expect(computed(queued).isEmpty && dispatched(queued).isEmpty, "queued behind the busy worker")
        }
        var next = harness.finish("w", computed(first)["w"]!)
        #expect(computed(next)["w"]?.map(\.header.requestID) == ["r1"], "within the budget")
        next = harness.finish("w", computed(next)["w"]!)
        #expect(computed(next).isEmpty && dispatched(next)["w"]?.map(\.header.requestID) == ["r2"], "budget spent")
        next = harness.finish("w", dispatched(next)["w"]!)
        #expect(computed(next).isEmpty && dispatched(next)["w"]?.map(\.header.requestID) == ["r3"])
        _ = harness.finish("w", dispatched(next)["w"]!)
        harness.core.waited(from: 0, to: 0)
        #expect(computed(try harness.predict("r4"))["w"]?.map(\.header.requestID) == ["r4"], "the loop waited: a new budget")
    }

    @Test func whileAWorkerIsBusyCheapWorkGoesToAnotherWorker() throws {
        let harness = try CoreHarness(workers: 2) { $0.inlineCompute = .microseconds(50) }
        harness.registry.servable(VersionKey(model: "m", version: 1))!.recordCompute(nanoseconds: 10_000, requests: 1)
        _ = harness.worker("a", .ready(heartbeats: false))
        _ = harness.worker("b", .ready(heartbeats: false))
        let first = try harness.predict("r1")
        #expect(computed(first).values.flatMap { $0 }.map(\.header.requestID) == ["r1"], "all idle: computed inline")
        // Its result has not come back: that worker counts busy, so the next request wakes the other worker.
        let second = try harness.predict("r2")
        #expect(computed(second).isEmpty && dispatched(second).values.flatMap { $0 }.map(\.header.requestID) == ["r2"])
    }

    @Test func aBusyBrokerLoopHandsCheapWorkToTheWorker() throws {
        let harness = try CoreHarness { $0.inlineCompute = .microseconds(50) }
        harness.registry.servable(VersionKey(model: "m", version: 1))!.recordCompute(nanoseconds: 10_000, requests: 1)
        _ = harness.worker("w", .ready(heartbeats: false))
        // Windows 0–20 ms and 20–40 ms with 1 ms and no waiting: busy 95 % then 100 %, smoothed to 74 %.
        harness.core.waited(from: 0, to: 1_000_000)
        harness.core.waited(from: 20_000_000, to: 20_000_000)
        harness.core.waited(from: 40_000_000, to: 40_000_000)
        let sent = try harness.predict("r")
        #expect(computed(sent).isEmpty && dispatched(sent)["w"]?.count == 1)
    }

    @Test func theLoopLoadIsTheShareOfTimeNotWaiting() {
        var load = LoopLoad(window: 10)
        #expect(load.busyFraction == 0, "starts idle")
        load.waited(from: 0, to: 10)
        load.waited(from: 20, to: 20)  // window 0–20: waited 10 → busy 0.5, smoothed 0.25
        #expect(load.busyFraction == 0.25)
        load.waited(from: 20, to: 40)  // window 20–40: waited 20 → busy 0, smoothed 0.125
        #expect(load.busyFraction == 0.125)
    }

    @Test func aBatchEstimatedPastTheLimitGoesToTheWorker() throws {
        let harness = try CoreHarness { $0.inlineCompute = .microseconds(50); $0.maxBatchSize = 8 }
        harness.registry.servable(VersionKey(model: "m", version: 1))!.recordCompute(nanoseconds: 20_000, requests: 1)
        for i in 0..<2 { try harness.predict("small\(i)") }
        let small = harness.worker("w", .ready(heartbeats: false))
        #expect(computed(small)["w"]?.count == 2, "2 × 20 µs fits in 50 µs")
        for i in 0..<3 { try harness.predict("large\(i)") }
        let large = harness.finish("w", computed(small)["w"]!)
        #expect(dispatched(large)["w"]?.count == 3 && computed(large).isEmpty, "3 × 20 µs does not")
    }

    @Test func remoteWorkersAndAZeroLimitNeverComputeInline() throws {
        let remote = try CoreHarness { $0.inlineCompute = .microseconds(50); $0.workerEndpoint = "tcp://127.0.0.1:0" }
        remote.registry.servable(VersionKey(model: "m", version: 1))!.recordCompute(nanoseconds: 1_000, requests: 1)
        _ = remote.worker("far", .ready(heartbeats: true))
        _ = remote.worker("far", .have([VersionKey(model: "m", version: 1)]))
        let far = try remote.predict("r")
        #expect(computed(far).isEmpty)

        let off = try CoreHarness { $0.inlineCompute = .zero }
        off.registry.servable(VersionKey(model: "m", version: 1))!.recordCompute(nanoseconds: 1_000, requests: 1)
        _ = off.worker("w", .ready(heartbeats: false))
        let sent = try off.predict("r")
        #expect(computed(sent).isEmpty && dispatched(sent)["w"]?.count == 1)
    }

    @Test func theEstimateFollowsRecentRunsPerRequest() {
        let harness = try! CoreHarness()
        let servable = harness.registry.servable(VersionKey(model: "m", version: 1))!
        #expect(servable.nanosecondsPerRequest == nil)
        servable.recordCompute(nanoseconds: 64_000, requests: 64)
        #expect(servable.nanosecondsPerRequest == 1_000)
        for _ in 0..<100 { servable.recordCompute(nanoseconds: 9_000, requests: 1) }
        #expect((8_900...9_000).contains(servable.nanosecondsPerRequest!), "moves to the recent runs")
    }
}
