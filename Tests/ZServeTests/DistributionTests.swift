import Foundation
import Inference
import Logging
import ServingProtocol
import Testing
@testable import ZServe
import ZServeTesting

/// Version files in memory, by digest.
final class MemoryVersionFiles: VersionFiles {
    var files: [[UInt8]: [UInt8]] = [:]

    func read(sha256: [UInt8], offset: UInt64, length: UInt32) -> Result<[UInt8], ServingError> {
        guard let bytes = files[sha256] else { return .failure(ServingError(.notFound, "no such file")) }
        guard offset < UInt64(bytes.count) else { return .failure(ServingError(.outOfRange, "past the end")) }
        let end = min(bytes.count, Int(offset) + Int(length))
        return .success(Array(bytes[Int(offset)..<end]))
    }
}

extension CoreHarness {
    /// Publishes `version` of model "m" as if loaded from a file with digest `[version, 0, ...]`.
    func publish(version: Int64) throws {
        let model = try #require(registry.servable(VersionKey(model: "m", version: 1))).model
        let source = VersionSource(file: URL(fileURLWithPath: "/nonexistent/\(version)"), sha256: Self.digest(version), size: 3)
        registry.publish(Servable(name: "m", version: version, model: model, source: source), asNewDefault: true)
    }

    static func digest(_ version: Int64) -> [UInt8] { [UInt8(version)] + [UInt8](repeating: 0, count: 31) }
}

func catalogs(_ actions: [BrokerAction]) -> [String: [CatalogEntry]] {
    var result: [String: [CatalogEntry]] = [:]
    for case .toWorker(let id, .catalog(let entries)) in actions { result[String(decoding: id, as: UTF8.self)] = entries }
    return result
}

/// Routing by version and model distribution in the broker core: remote workers get only versions they reported
/// ready, learn every change through the catalog, and nothing fails while a version is on its way to them.
@Suite struct DistributionTests {
    private let m1 = VersionKey(model: "m", version: 1)
    private let m2 = VersionKey(model: "m", version: 2)

    @Test func aRemoteWorkerGetsTheCatalogOnJoiningAndRequestsOnlyOnceItReportsAVersionReady() throws {
        let harness = try CoreHarness(workers: 0)
        try harness.publish(version: 2)
        let joined = harness.worker("r", .ready(heartbeats: true))
        #expect(catalogs(joined)["r"]?.map(\.key) == [m2], "versions without a known file (v1 here) are not offered")
        let early = try harness.predict("a")
        #expect(try replies(early).isEmpty && dispatched(early).isEmpty, "waits: the worker has nothing ready yet")
        #expect(harness.core.nanosecondsUntilNextEvent() > 0, "and the broker does not spin while it waits")
        let sent = dispatched(harness.worker("r", .have([m2])))
        #expect(sent["r"]?.map(\.version) == [2])
        #expect(sent["r"]?.map(\.header.requestID) == ["a"])
    }

    @Test func duringARolloutRequestsStayOnTheOldVersionUntilAWorkerHasTheNewOne() throws {
        let harness = try CoreHarness(workers: 0)
        try harness.publish(version: 1)
        _ = harness.worker("r", .ready(heartbeats: true))
        _ = harness.worker("r", .have([m1]))
        try harness.publish(version: 2)
        harness.registry.unload(name: "m", version: 1)
        let announced = harness.tick()
        #expect(catalogs(announced)["r"]?.map(\.key) == [m2], "the change reaches the worker")
        var first = dispatched(try harness.predict("a"))["r"] ?? []
        #expect(first.map(\.version) == [1], "the worker has only v1 so far: served there, not failed")
        _ = harness.finish("r", first)
        _ = harness.worker("r", .have([m1, m2]))
        first = dispatched(try harness.predict("b"))["r"] ?? []
        #expect(first.map(\.version) == [2])
        #expect(try replies(try harness.predict("c", version: 3)).map(\.code) == [.notFound])
    }

    @Test func aPinnedVersionNoWorkerHasYetWaitsForOneThatGetsIt() throws {
        let harness = try CoreHarness(workers: 0)
        try harness.publish(version: 2)
        _ = harness.worker("r", .ready(heartbeats: true))
        _ = harness.worker("r", .have([m1]))
        let pinned = try harness.predict("a", version: 2)
        #expect(try replies(pinned).isEmpty && dispatched(pinned).isEmpty)
        let b = dispatched(try harness.predict("b", version: 1))["r"] ?? []
        #expect(b.map(\.version) == [1], "v1 is not held up")
        _ = harness.worker("r", .have([m1, m2]))
        let later = dispatched(harness.finish("r", b))
        #expect(later["r"]?.map(\.header.requestID) == ["a"] && later["r"]?.map(\.version) == [2])
    }

    @Test func aWorkerMissingItsVersionHandsTheRequestsBackToBeRoutedAgain() throws {
        let harness = try CoreHarness(workers: 0)
        try harness.publish(version: 1)
        try harness.publish(version: 2)
        _ = harness.worker("r", .ready(heartbeats: true))
        _ = harness.worker("r", .have([m1, m2]))
        let held = dispatched(try harness.predict("a"))["r"] ?? []
        #expect(held.map(\.version) == [2])
        // The worker dropped v2 meanwhile: the request goes back, now to v1, which it still has.
        let again = harness.worker("r", .missing(m2))
        #expect(dispatched(again)["r"]?.map(\.version) == [1])
        #expect(try replies(again).isEmpty, "not answered: re-routed")
        #expect(harness.core.pool.ready[Array("r".utf8)] == [m1])
    }

    @Test func aLocalWorkerMissingAnUnloadedVersionSendsItsRequestToTheNewDefault() throws {
        let harness = try CoreHarness(workers: 1)
        _ = harness.worker("w", .ready(heartbeats: false))
        let held = dispatched(try harness.predict("a"))["w"] ?? []
        #expect(held.map(\.version) == [1])
        try harness.publish(version: 2)
        harness.registry.unload(name: "m", version: 1)
        #expect(dispatched(harness.worker("w", .missing(m1)))["w"]?.map(\.version) == [2], "a swap fails no request")
        #expect(catalogs(harness.tick()).isEmpty, "local workers get no catalog")
    }

    @Test func queuedRequestsForAVersionWhoseOnlyWorkerDiedAreRoutedAgain() throws {
        let harness = try CoreHarness(workers: 0)
        try harness.publish(version: 1)
        try harness.publish(version: 2)
        _ = harness.worker("old", .ready(heartbeats: true))
        _ = harness.worker("old", .have([m1]))
        _ = harness.worker("new", .ready(heartbeats: true))
        _ = harness.worker("new", .have([m1, m2]))
        let busy = dispatched(try harness.predict("a"))["new"] ?? []
        #expect(busy.map(\.version) == [2])
        // "old" is idle but lacks v2: the next request waits for "new".
        #expect(dispatched(try harness.predict("b")).isEmpty)
        let after = harness.worker("new", .disconnect)
        // Both requests go to "old", on v1.
        _ = after
        let served = dispatched(after)["old"] ?? []
        #expect(served.map(\.version) == [1])
        let rest = dispatched(harness.finish("old", served))["old"] ?? []
        #expect((served + rest).count == 2 && rest.allSatisfy { $0.version == 1 })
    }

    @Test func remoteWorkersFetchServedFilesByDigestAndOnlyThose() throws {
        let files = MemoryVersionFiles()
        files.files[CoreHarness.digest(2)] = [1, 2, 3, 4, 5]
        let harness = try CoreHarness(workers: 0, files: files)
        _ = harness.worker("r", .ready(heartbeats: true))
        let chunk = harness.worker("r", .fetch(sha256: CoreHarness.digest(2), offset: 1, length: 3))
        #expect(chunk == [.toWorker(Array("r".utf8), .chunk(sha256: CoreHarness.digest(2), offset: 1, bytes: [2, 3, 4]))])
        let unknown = harness.worker("r", .fetch(sha256: CoreHarness.digest(9), offset: 0, length: 3))
        guard case .toWorker(_, .fetchFailed(let digest, let reason))? = unknown.first else {
            Issue.record("expected fetchFailed, got \(unknown)")
            return
        }
        #expect(digest == CoreHarness.digest(9) && reason == "no such file")
        #expect(harness.worker("stranger", .fetch(sha256: CoreHarness.digest(2), offset: 0, length: 3)).isEmpty,
                "only joined remote workers fetch")
    }

    @Test func distributionMessagesRoundTripAndMalformedOnesAreRefused() {
        let entries = [CatalogEntry(key: m1, sha256: CoreHarness.digest(1), size: 10), CatalogEntry(key: m2, sha256: CoreHarness.digest(2), size: 1 << 40)]
        let messages: [WorkerMessage] = [
            .catalog(entries), .catalog([]), .have([m1, m2]), .have([]), .missing(m2),
            .fetch(sha256: CoreHarness.digest(1), offset: 7, length: 1 << 20),
            .chunk(sha256: CoreHarness.digest(1), offset: 1 << 33, bytes: [1, 2]),
            .fetchFailed(sha256: CoreHarness.digest(1), reason: "gone"),
        ]
        for message in messages { #expect(WorkerMessage(frames: message.frames) == message) }
        #expect(WorkerMessage(frames: [[12], Array("m".utf8)]) == nil, "a name without a version")
        #expect(WorkerMessage(frames: [[12], [], [1, 0, 0, 0, 0, 0, 0, 0]]) == nil, "an empty name")
        #expect(WorkerMessage(frames: [[13], Array("m".utf8), [0, 0, 0, 0, 0, 0, 0, 0]]) == nil, "version 0")
        #expect(WorkerMessage(frames: [[9], [UInt8](repeating: 0, count: 31), [UInt8](repeating: 0, count: 12)]) == nil, "short digest")
        let huge = WorkerMessage.fetch(sha256: CoreHarness.digest(1), offset: 0, length: WorkerMessage.maximumChunkBytes + 1).frames
        #expect(WorkerMessage(frames: huge) == nil, "chunk larger than allowed")
    }
}
