import Crypto
import Foundation
import Inference
import Logging
import ServingProtocol
import Testing
@testable import ZServe
import ZServeTesting

/// A loader that succeeds or fails on demand and records, for each load, the state the registry showed meanwhile.
final class FakeLoader: Loader {
    let registry: ModelRegistry
    /// Versions that fail to load, with the reason.
    var failures: [String: String] = [:]
    /// Each load: "name/version", and the version's state while it was loading.
    private(set) var loads: [(key: String, stateDuringLoad: VersionState?, warmup: Warmup)] = []
    private let model: Model

    init(registry: ModelRegistry) throws {
        self.registry = registry
        var graph = ONNXGraphBuilder(opset: 17)
        graph.input("x", .float32, [nil, 2])
        graph.node("Identity", ["x"], ["y"])
        graph.output("y", .float32, [nil, 2])
        model = try Model(onnx: graph.serialized())
    }

    func load(file: URL, name: String, version: Int64, warmup: Warmup) throws(ServingError) -> (Servable, tolerated: Error?) {
        let state = registry.snapshot(of: name)?.versions.first { $0.version == version }?.state
        loads.append(("\(name)/\(version)", state, warmup))
        if let reason = failures["\(name)/\(version)"] { throw ServingError(.invalidArgument, reason) }
        return (Servable(name: name, version: version, model: model), nil)
    }
}

/// The lifecycle without sockets or ONNX files: a real repository on disk (placeholder model files), a fake loader.
final class ManagerHarness {
    let repository: TemporaryRepository
    let registry = ModelRegistry()
    let loader: FakeLoader
    private(set) var manager: ModelManager

    init(versions: [Int64] = [1], config: String? = nil, metrics: ServerMetrics? = nil) throws {
        repository = try TemporaryRepository()
        loader = try FakeLoader(registry: registry)
        manager = ModelManager(
            registry: registry, repository: ModelRepository(root: repository.root), loader: loader, limits: .init(),
            logger: Logger(label: "test"), metrics: metrics)
        for version in versions { try addVersion(version) }
        if let config { try writeConfig(config) }
        try manager.start()
    }

    func addVersion(_ version: Int64, bytes: [UInt8] = [1]) throws {
        try repository.add("m", version: version, bytes: Data(bytes))
    }

    func writeConfig(_ json: String) throws {
        try Data(json.utf8).write(to: repository.root.appendingPathComponent("m/config.json"))
    }

    /// Version → state as ModelStatus reports them.
    var states: [Int64: VersionState] {
        Dictionary(uniqueKeysWithValues: (registry.snapshot(of: "m")?.versions ?? []).map { ($0.version, $0.state) })
    }

    /// Pushes `bytes` as the next version of "m" in one committing chunk.
    func push(_ bytes: [UInt8]) throws(ServingError) -> Int64 {
        let outcome = try manager.push(.with {
            $0.model = "m"
            $0.totalSize = UInt64(bytes.count)
            $0.sha256 = Data(SHA256.hash(data: bytes))
            $0.data = Data(bytes)
            $0.commit = true
        })
        return outcome.published!.version
    }

    /// A manager reading the same repository afresh, as after a restart.
    func restarted() throws -> (ModelManager, ModelRegistry) {
        let registry = ModelRegistry()
        let manager = ModelManager(
            registry: registry, repository: ModelRepository(root: repository.root), loader: try FakeLoader(registry: registry),
            limits: .init(), logger: Logger(label: "test"))
        try manager.start()
        return (manager, registry)
    }
}

@Suite struct ModelManagerTests {
    @Test func everyVersionIsLoadingWhileItLoadsAndUnloadingWhileRequestsFinishOnIt() throws {
        let harness = try ManagerHarness()
        #expect(harness.loader.loads.map(\.stateDuringLoad) == [.loading])
        #expect(harness.states == [1: .available])
        let held = try harness.registry.resolve(name: "m")
        held.beginRequest()

        try harness.addVersion(2)
        harness.manager.synchronize()
        #expect(harness.loader.loads.last?.key == "m/2")
        #expect(harness.loader.loads.last?.stateDuringLoad == .loading)
        #expect(harness.states == [1: .unloading, 2: .available], "latest 1: version 1 leaves once 2 serves")
        held.endRequest()
        #expect(harness.states == [1: .end, 2: .available])
    }

    @Test func aPushLoadsThroughTheSamePathAndAFailedPushIsShownFailedWithItsReason() throws {
        let harness = try ManagerHarness()
        #expect(try harness.push([2]) == 2)
        #expect(harness.loader.loads.last?.key == "m/2")
        #expect(harness.loader.loads.last?.stateDuringLoad == .loading)
        #expect(harness.states == [1: .end, 2: .available])

        harness.loader.failures["m/3"] = "operator Frobnicate is not supported"
        #expect(throws: ServingError(.invalidArgument, "operator Frobnicate is not supported")) { try harness.push([3]) }
        let failed = harness.registry.snapshot(of: "m")?.versions.first { $0.version == 3 }
        #expect(failed?.state == .failed)
        #expect(failed?.error == "operator Frobnicate is not supported")
        #expect(try harness.registry.resolve(name: "m").version == 2, "the last good version keeps serving")
        #expect(try ModelRepository(root: harness.repository.root).scan() == ["m": [1, 2]], "a refused push is not stored")
    }

    @Test func operatorLoadsAndUnloadsHoldAcrossPolls() throws {
        let harness = try ManagerHarness(versions: [1, 2])
        #expect(harness.registry.availableVersions(of: "m") == [2])
        try harness.manager.load("m", 1)
        harness.manager.synchronize()
        #expect(harness.registry.availableVersions(of: "m") == [1, 2], "loaded by an operator: kept outside the policy")
        try harness.manager.unload("m", 2)
        harness.manager.synchronize()
        #expect(harness.registry.availableVersions(of: "m") == [1], "unloaded by an operator: not reloaded by the poll")
        #expect(throws: ServingError.self) { try harness.manager.unload("m", 2) }
        try harness.manager.unload("m", 1)
        harness.manager.synchronize()
        #expect(harness.registry.availableVersions(of: "m").isEmpty, "unloading the last version is not undone by the fallback")
        #expect(throws: ServingError(.notFound, "model 'm' has no version 9 on disk")) { try harness.manager.load("m", 9) }
    }

    @Test func operatorRequestsNamingNoModelOrNoVersionAreInvalidAndAnUnknownModelIsNotFound() throws {
        let harness = try ManagerHarness(versions: [1])
        let emptyName = ServingError(.invalidArgument, "model name is empty")
        #expect(throws: emptyName) { try harness.manager.load("", 1) }
        #expect(throws: emptyName) { try harness.manager.unload("", 1) }
        #expect(throws: emptyName) { try harness.manager.setLabel("", label: "canary", version: 1, weight: 0) }
        #expect(throws: emptyName) { _ = try harness.manager.rollback("") }
        #expect(throws: ServingError(.invalidArgument, "model version must be positive, got 0")) { try harness.manager.load("m", 0) }
        #expect(throws: ServingError(.invalidArgument, "model version must be positive, got -1")) { try harness.manager.unload("m", -1) }
        #expect(throws: ServingError(.notFound, "model 'nope' not found")) { _ = try harness.manager.rollback("nope") }
        #expect(harness.registry.availableVersions(of: "m") == [1])
    }

    @Test func configIsParsedOncePerChange() throws {
        let harness = try ManagerHarness(versions: [1, 2, 3], config: #"{"version_policy": {"latest": 2}}"#)
        #expect(harness.registry.availableVersions(of: "m") == [2, 3])
        for _ in 0..<3 { harness.manager.synchronize() }
        #expect(harness.manager.configParses == 1)
        try harness.writeConfig(#"{"version_policy": {"all": true}, "batching": {"max_batch_size": 8}}"#)
        harness.manager.synchronize()
        harness.manager.synchronize()
        #expect(harness.manager.configParses == 2)
        #expect(harness.registry.availableVersions(of: "m") == [1, 2, 3])
        #expect(harness.registry.batching(of: "m")?.maxBatchSize == 8)
        try harness.writeConfig(#"{"version_policy": {"latest": 0}}"#)
        harness.manager.synchronize()
        #expect(harness.registry.availableVersions(of: "m") == [3], "an invalid file serves with the defaults")
    }

    @Test func aVersionThatFailsFallsBackAndIsRetriedOnlyOnceItsFileChanges() throws {
        let harness = try ManagerHarness()
        harness.loader.failures["m/2"] = "broken"
        try harness.addVersion(2)
        harness.manager.synchronize()
        harness.manager.synchronize()
        #expect(harness.loader.loads.filter { $0.key == "m/2" }.count == 1)
        #expect(harness.states == [1: .available, 2: .failed])
        harness.loader.failures["m/2"] = nil
        try harness.addVersion(2, bytes: [2, 2])
        harness.manager.synchronize()
        #expect(harness.states == [1: .end, 2: .available])
    }

    @Test func labelsAndRollbacksAreKeptByTheirOwnerAndSurviveARestart() throws {
        let harness = try ManagerHarness(versions: [1, 2, 3])
        try harness.manager.setLabel("m", label: "stable", version: 3, weight: 0)
        #expect(throws: ServingError.self) { try harness.manager.setLabel("m", label: "canary", version: 1, weight: 10) }
        let (from, to) = try harness.manager.rollback("m")
        #expect((from, to) == (3, 2))
        #expect(harness.registry.availableVersions(of: "m") == [2, 3], "the pinned default and the labelled version")

        let (_, registry) = try harness.restarted()
        #expect(registry.snapshot(of: "m")?.labels == ["stable": LabelTarget(version: 3)])
        #expect(try registry.resolve(name: "m").version == 2)
        #expect(registry.availableVersions(of: "m") == [2, 3])

        #expect(try harness.push([4]) == 4)
        #expect(try harness.registry.resolve(name: "m").version == 4, "a push releases the pinned default")
        #expect(try harness.restarted().1.resolve(name: "m").version == 4)
    }

    @Test func theWarmupRequirementComesFromConfigAndDefaultsToRequiredWhileServing() throws {
        func required(_ load: (key: String, stateDuringLoad: VersionState?, warmup: Warmup)?) -> Bool? {
            guard case .generated(let required)? = load?.warmup else { return nil }
            return required
        }
        let harness = try ManagerHarness()
        #expect(required(harness.loader.loads.last) == false, "at start the disk's versions serve even if warm-up fails")
        try harness.addVersion(2)
        harness.manager.synchronize()
        #expect(required(harness.loader.loads.last) == true)
        try harness.writeConfig(#"{"warmup": "tolerated"}"#)
        try harness.addVersion(3)
        harness.manager.synchronize()
        #expect(required(harness.loader.loads.last) == false)
        #expect(throws: ModelStoreError.self) { try ModelConfig(json: Data(#"{"warmup": "maybe"}"#.utf8)) }
    }

    @Test func aSwapIsCountedEachTimeTheDefaultMovesFromOneVersionToAnother() throws {
        let metrics = ServerMetrics()
        let harness = try ManagerHarness(metrics: metrics)
        func swaps() -> String? {
            String(decoding: metrics.render(models: harness.registry), as: UTF8.self).split(separator: "\n")
                .first { $0.hasPrefix("zserve_model_swaps_total{") }.map(String.init)
        }
        #expect(swaps() == nil, "the first version served is not a swap")
        #expect(try harness.push([2]) == 2)
        let (from, to) = try harness.manager.rollback("m")
        #expect(from == 2 && to == 1)
        harness.loader.failures["m/3"] = "refused"
        #expect(throws: ServingError.self) { try harness.push([3]) }
        #expect(swaps() == #"zserve_model_swaps_total{model="m"} 2"#)
    }
}
