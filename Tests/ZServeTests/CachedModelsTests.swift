import Crypto
import Foundation
import Inference
import Logging
import Testing
@testable import ZServe
import ZServeTesting

/// A worker's model cache driven the way its worker loop drives it: catalogs in, fetches out, chunks in (read from
/// files here, as the broker reads them), versions published into the worker's registry once loaded.
final class CacheHarness {
    let directory: TemporaryRepository
    let registry = ModelRegistry()
    let models: CachedModels
    let connection: Int
    /// Model files by digest, as a server would serve them.
    var served: [[UInt8]: [UInt8]] = [:]

    init(directory: TemporaryRepository? = nil) throws {
        self.directory = try directory ?? TemporaryRepository()
        models = CachedModels(
            registry: registry, cache: try VersionCache(directory: self.directory.root), loader: ONNXLoader(),
            logger: Logger(label: "test"))
        connection = models.attach()
    }

    /// A model file y = x * scale (its bytes differ per scale), added to what the "server" serves.
    func entry(_ version: Int64, scale: Float) throws -> CatalogEntry {
        var graph = ONNXGraphBuilder(opset: 17)
        graph.input("x", .float32, [nil, 2])
        graph.initializer("s", .init(float32: [scale], shape: [1]))
        graph.node("Mul", ["x", "s"], ["y"])
        graph.output("y", .float32, [nil, 2])
        let bytes = [UInt8](try graph.serialized())
        let digest = Array(SHA256.hash(data: bytes))
        served[digest] = bytes
        return CatalogEntry(key: VersionKey(model: "m", version: version), sha256: digest, size: UInt64(bytes.count))
    }

    /// Answers fetches with chunks (optionally damaged) until none are left; returns how many fetches there were.
    @discardableResult
    func exchange(_ messages: [WorkerMessage], damage: Bool = false) -> Int {
        var pending = messages
        var fetches = 0
        while let message = pending.first {
            pending.removeFirst()
            guard case .fetch(let digest, let offset, let length) = message, var bytes = served[digest] else { continue }
            fetches += 1
            if damage { bytes[bytes.count / 2] ^= 0xFF }
            let chunk = Array(bytes[Int(offset)..<min(bytes.count, Int(offset) + Int(length))])
            pending += models.receive(.chunk(sha256: digest, offset: offset, bytes: chunk), connection: connection)
        }
        return fetches
    }

    /// Waits (up to 10 s) until nothing is being fetched or loaded; returns the versions ready.
    func settled() async throws -> [VersionKey] {
        for _ in 0..<1000 where models.isSettling {
            exchange(models.outbox(connection: connection))
            try await Task.sleep(for: .milliseconds(10))
        }
        return models.ready(connection: connection)
    }

    func cachedFiles() throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: directory.root.path).filter { !$0.hasPrefix(".") }.sorted()
    }
}

@Suite struct CachedModelsTests {
    @Test func aListedVersionIsFetchedVerifiedLoadedAndReportedReady() async throws {
        let harness = try CacheHarness()
        let v1 = try harness.entry(1, scale: 2)
        #expect(harness.exchange(harness.models.receive(.catalog([v1]), connection: harness.connection)) == 1)
        #expect(try await harness.settled() == [v1.key])
        let servable = try #require(harness.registry.servable(v1.key))
        #expect(servable.model.inputs.map(\.name) == ["x"])
        #expect(try harness.cachedFiles() == [v1.digestHex + ".onnx"])
    }

    @Test func anUnlistedVersionLeavesOnlyOnceItsReplacementIsReady() async throws {
        let harness = try CacheHarness()
        let v1 = try harness.entry(1, scale: 2)
        let v2 = try harness.entry(2, scale: 3)
        harness.exchange(harness.models.receive(.catalog([v1]), connection: harness.connection))
        #expect(try await harness.settled() == [v1.key])
        // v2 replaces v1, but its chunks have not arrived yet: v1 still serves.
        let fetches = harness.models.receive(.catalog([v2]), connection: harness.connection)
        #expect(harness.registry.servable(v1.key) != nil, "kept while v2 is on its way")
        #expect(harness.models.ready(connection: harness.connection) == [v1.key], "and still reported ready")
        harness.exchange(fetches)
        #expect(try await harness.settled() == [v2.key])
        #expect(harness.registry.servable(v1.key) == nil)
        #expect(try harness.cachedFiles() == [v2.digestHex + ".onnx"], "v1's file is removed with it")
        // A rollback lists v1 again: fetched again, and v2 goes.
        harness.exchange(harness.models.receive(.catalog([v1]), connection: harness.connection))
        #expect(try await harness.settled() == [v1.key])
        #expect(harness.registry.availableKeys() == [v1.key])
    }

    @Test func aDamagedTransferIsRefusedLeavesNothingAndIsRetriedOnTheNextCatalog() async throws {
        let harness = try CacheHarness()
        let v1 = try harness.entry(1, scale: 2)
        harness.exchange(harness.models.receive(.catalog([v1]), connection: harness.connection), damage: true)
        #expect(try await harness.settled() == [])
        #expect(harness.registry.availableKeys().isEmpty)
        #expect(try harness.cachedFiles().isEmpty, "no file under a final name")
        let staging = try FileManager.default.contentsOfDirectory(atPath: harness.directory.root.appendingPathComponent(".staging").path)
        #expect(staging.isEmpty, "nothing left in staging")
        harness.exchange(harness.models.receive(.catalog([v1]), connection: harness.connection))
        #expect(try await harness.settled() == [v1.key])
    }

    @Test func aRestartedWorkerLoadsFromItsCacheWithoutFetching() async throws {
        let directory = try TemporaryRepository()
        let v1: CatalogEntry
        do {
            let first = try CacheHarness(directory: directory)
            v1 = try first.entry(1, scale: 2)
            first.exchange(first.models.receive(.catalog([v1]), connection: first.connection))
            #expect(try await first.settled() == [v1.key])
        }
        let second = try CacheHarness(directory: directory)
        #expect(second.models.receive(.catalog([v1]), connection: second.connection).isEmpty, "no fetch")
        #expect(try await second.settled() == [v1.key])
    }

    @Test func aFileThatIsNotAModelIsReportedFailedNotReady() async throws {
        let harness = try CacheHarness()
        let bytes = [UInt8]("not a model".utf8)
        let digest = Array(SHA256.hash(data: bytes))
        harness.served[digest] = bytes
        let bad = CatalogEntry(key: VersionKey(model: "m", version: 1), sha256: digest, size: UInt64(bytes.count))
        harness.exchange(harness.models.receive(.catalog([bad]), connection: harness.connection))
        #expect(try await harness.settled() == [])
        #expect(!harness.models.isSettling, "not retried: the same bytes fail the same way")
    }
}
