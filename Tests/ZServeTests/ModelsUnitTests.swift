import Foundation
import Inference
import Logging
import ServingProtocol
import Testing
import ZServeTesting
@testable import ZServe

@Suite struct ModelRepositoryTests {
    @Test(arguments: ["ctr", "ctr_v2", "a-b.c", String(repeating: "x", count: 128)])
    func plainNamesAreValid(_ name: String) {
        #expect(ModelRepository.isValidModelName(name))
    }

    @Test(arguments: ["", "../x", "/abs", "a/b", ".hidden", "spa ce", String(repeating: "x", count: 129), "naïve"])
    func namesThatCouldEscapeOrConfuseAreInvalid(_ name: String) {
        #expect(!ModelRepository.isValidModelName(name))
    }

    @Test func scanFindsNumericVersionsWithAModelFile() throws {
        let repository = try TemporaryRepository()
        try repository.add("m", version: 1, bytes: Data([1]))
        try repository.add("m", version: 10, bytes: Data([1]))
        try repository.add("empty", version: 3, bytes: Data([1]))
        let files = FileManager.default
        try files.createDirectory(at: repository.root.appendingPathComponent("m/2"), withIntermediateDirectories: true)
        try files.createDirectory(at: repository.root.appendingPathComponent("m/latest"), withIntermediateDirectories: true)
        try files.createDirectory(at: repository.root.appendingPathComponent("m/007"), withIntermediateDirectories: true)
        try files.removeItem(at: repository.root.appendingPathComponent("empty/3/model.onnx"))
        try files.createDirectory(at: repository.root.appendingPathComponent(".tmp-push/1"), withIntermediateDirectories: true)
        #expect(try ModelRepository(root: repository.root).scan() == ["m": [1, 10]])
    }
}

@Suite struct ModelRegistryTests {
    @Test func labelsCanaryWeightsAndPinnedDefaults() throws {
        let registry = ModelRegistry(canarySeed: 7)
        let (v1, v2, v3) = (try servable("m", 1), try servable("m", 2), try servable("m", 3))
        [v1, v2, v3].forEach { registry.publish($0) }
        registry.setLabel(name: "m", label: "stable", target: LabelTarget(version: 1))
        #expect(try registry.resolve(name: "m", label: "stable") === v1)
        #expect(try registry.resolve(name: "m") === v3)

        registry.setLabel(name: "m", label: "canary", target: LabelTarget(version: 2, weight: 25))
        var counts: [Int64: Int] = [:]
        for i in 0..<4000 {
            let servable = try registry.resolve(name: "m", requestID: "request-\(i)")
            counts[servable.version, default: 0] += 1
            #expect(try registry.resolve(name: "m", requestID: "request-\(i)") === servable, "the same id takes the same branch")
        }
        #expect(Set(counts.keys) == [2, 3])
        #expect(abs(Double(counts[2]!) / 4000 - 0.25) < 0.03)

        registry.pinDefault(name: "m", version: 1)
        registry.setLabel(name: "m", label: "canary", target: nil)
        #expect(try registry.resolve(name: "m") === v1)
        registry.publish(try servable("m", 4), asNewDefault: true)
        #expect(try registry.resolve(name: "m").version == 4, "a new version releases the pinned default")
    }

    @Test func unloadedVersionsEndButRequestsHoldingThemFinish() throws {
        let registry = ModelRegistry()
        let v1 = try servable("m", 1)
        registry.publish(v1)
        let held = try registry.resolve(name: "m")
        registry.unload(name: "m", version: 1)
        #expect(!registry.isServing(held))
        #expect(registry.snapshot(of: "m")?.versions.map(\.state) == [.end])
        #expect(throws: ServingError.self) { try registry.resolve(name: "m") }
        let session = held.model.makeSession()
        try session.setInput(0, Tensor(float32: [-1], shape: [1]))
        #expect(try session.run()[0].array(of: Float.self) == [0])
    }

    func servable(_ name: String, _ version: Int64) throws -> Servable {
        var graph = ONNXGraphBuilder()
        graph.input("x", .float32, [1])
        graph.node("Relu", ["x"], ["y"])
        graph.output("y", .float32, [1])
        return Servable(name: name, version: version, model: try Model(onnx: graph.serialized()))
    }

    @Test func resolvesPinnedVersionsAndDefaultsToTheNewest() throws {
        let registry = ModelRegistry()
        let (v1, v3) = (try servable("m", 1), try servable("m", 3))
        registry.publish(v1)
        registry.publish(v3)
        #expect(try registry.resolve(name: "m") === v3)
        #expect(try registry.resolve(name: "m", version: 1) === v1)
        #expect(registry.availableVersions(of: "m") == [1, 3])
        #expect(registry.isServing(v1))
    }

    @Test func failuresCarryPreciseCodes() throws {
        let registry = ModelRegistry()
        registry.publish(try servable("m", 1))
        registry.markFailed(name: "m", version: 2, error: "boom")
        registry.markFailed(name: "broken", version: 1, error: "boom")
        func code(_ body: () throws -> Servable) -> Zserve_V1_Code? {
            do { _ = try body(); return nil } catch { return (error as? ServingError)?.code }
        }
        #expect(code { try registry.resolve(name: "") } == .invalidArgument)
        #expect(code { try registry.resolve(name: "other") } == .notFound)
        #expect(code { try registry.resolve(name: "m", version: 5) } == .notFound)
        #expect(code { try registry.resolve(name: "m", version: 2) } == .unavailable)
        #expect(code { try registry.resolve(name: "m", label: "stable") } == .notFound)
        #expect(code { try registry.resolve(name: "broken") } == .unavailable)
        registry.setLabel(name: "m", label: "stable", target: LabelTarget(version: 1, weight: 0))
        #expect(code { try registry.resolve(name: "m", version: 1, label: "stable") } == .invalidArgument, "ambiguous even when both agree")
        #expect(code { try registry.resolve(name: "m", version: 1, label: "nope") } == .invalidArgument)
        #expect(registry.unavailability(name: "m", version: 1, label: "stable")?.code == .invalidArgument, "the broker answers alike")
        let statuses = registry.snapshots()
        #expect(statuses.map(\.name) == ["broken", "m"])
        #expect(statuses[1].versions.map(\.state) == [.available, .failed])
    }
}

@Suite struct BLASThreadTests {
    @Test func blasThreadsNeverMakeWorkersTimesThreadsExceedTheCores() {
        let cores = ProcessInfo.processInfo.activeProcessorCount
        var configuration = ServerConfiguration(repository: URL(fileURLWithPath: "/"), listen: "tcp://127.0.0.1:0", workers: 1)
        configuration.blasThreads = 4 * cores
        #expect(Server.blasThreads(configuration, logger: Logger(label: "test")) == cores)
        configuration.workers = 2 * cores
        #expect(Server.blasThreads(configuration, logger: Logger(label: "test")) == 1)
        configuration.workers = 1
        configuration.blasThreads = 1
        #expect(Server.blasThreads(configuration, logger: Logger(label: "test")) == 1)
    }
}
