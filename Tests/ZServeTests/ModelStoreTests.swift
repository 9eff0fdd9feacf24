import Foundation
import Testing
import ZServeTesting
@testable import ZServe

@Suite struct ModelStoreTests {
    @Test func commitsMoveCompleteUploadsIntoPlaceAndRefuseExistingVersions() throws {
        let repository = try TemporaryRepository()
        let store = ModelStore(repository: ModelRepository(root: repository.root))
        #expect(store.nextVersion(of: "m") == 1)
        let upload = try store.makeUploadDirectory(id: "a")
        try Data([1, 2, 3]).write(to: upload.appendingPathComponent("model.onnx"))
        try store.commit(upload: upload, model: "m", version: 1)
        #expect(FileManager.default.fileExists(atPath: repository.root.appendingPathComponent("m/1/model.onnx").path))
        #expect(!FileManager.default.fileExists(atPath: upload.path))
        #expect(store.nextVersion(of: "m") == 2)

        let second = try store.makeUploadDirectory(id: "b")
        try Data([4]).write(to: second.appendingPathComponent("model.onnx"))
        #expect(throws: ModelStoreError.versionExists("m", 1)) { try store.commit(upload: second, model: "m", version: 1) }
        #expect(try Data(contentsOf: repository.root.appendingPathComponent("m/1/model.onnx")) == Data([1, 2, 3]))

        try store.removeStaleUploads()
        #expect(!FileManager.default.fileExists(atPath: store.uploadsRoot.path))
        #expect(try ModelRepository(root: repository.root).scan() == ["m": [1]], "uploads are never versions")
    }

    @Test func servingStateAndPolicyRoundTrip() throws {
        let repository = try TemporaryRepository()
        try repository.add("m", bytes: Data([1]))
        let store = ModelStore(repository: ModelRepository(root: repository.root))
        #expect(store.configData(of: "m") == nil)
        #expect(try store.servingState(of: "m") == ServingState())
        let state = ServingState(defaultVersion: 1, labels: ["canary": LabelTarget(version: 1, weight: 10)])
        try store.saveServingState(state, of: "m")
        #expect(try store.servingState(of: "m") == state)

        for (json, policy) in [
            (#"{"version_policy": {"latest": 3}}"#, VersionPolicy.latest(3)),
            (#"{"version_policy": {"all": true}}"#, .all),
            (#"{"version_policy": {"specific": [2, 5]}}"#, .specific([2, 5])),
        ] {
            #expect(try ModelConfig(json: Data(json.utf8)).versionPolicy == policy)
        }
        for bad in [#"{"version_policy": {"latest": 0}}"#, #"{"version_polcy": {"latest": 1}}"#, "[1]"] {
            #expect(throws: ModelStoreError.self) { try ModelConfig(json: Data(bad.utf8)) }
        }
        #expect(VersionPolicy.latest(2).select([1, 5, 3]) == [3, 5])
    }

    @Test func batchingConfigurationAndBatchSizes() throws {
        let repository = try TemporaryRepository()
        try repository.add("m", bytes: Data([1]))
        #expect(ModelConfig.default.batching == nil)
        let config = try ModelConfig(json: Data(#"{"version_policy": {"latest": 2}, "batching": {"max_batch_size": 16, "max_queue_delay_us": 300, "preferred_batch_sizes": [4, 8]}}"#.utf8))
        let policy = try #require(config.batching)
        #expect(policy == BatchingPolicy(maxBatchSize: 16, maxQueueDelay: .microseconds(300), preferredBatchSizes: [4, 8]))
        #expect(config.versionPolicy == .latest(2))
        #expect([1, 3, 4, 7, 8, 20].map { policy.batchSize(available: $0) } == [1, 3, 4, 4, 8, 8])
        #expect(BatchingPolicy(maxBatchSize: 5).batchSize(available: 9) == 5)
        for bad in [#"{"batching": {"max_batch_size": 0}}"#, #"{"batching": {"max_batch_size": 4, "preferred_batch_sizes": [8]}}"#,
                    #"{"batching": {"max_batch_size": 4, "typo": 1}}"#] {
            #expect(throws: ModelStoreError.self) { try ModelConfig(json: Data(bad.utf8)) }
        }
    }
}

@Suite struct AdaptiveBatchLimitTests {
    @Test func growsAdditivelyUnderTheTargetAndShrinksMultiplicativelyOverIt() {
        var control = AdaptiveBatchLimit(targetNanoseconds: 1_000_000, maximum: 16)
        #expect(control.limit == 1)
        for _ in 0..<20 { control.record([200_000, 300_000]) }
        #expect(control.limit == 16, "one step per batch, capped at the maximum")
        control.record(Array(repeating: 5_000_000, count: 10))
        #expect(control.limit == 12, "a p99 over the target cuts the limit by a quarter")
        for _ in 0..<10 { control.record([5_000_000]) }
        #expect(control.limit == 1)
        // Fast batches push the slow ones out of the window, and the limit grows again.
        for _ in 0..<200 { control.record([100_000]) }
        #expect(control.percentile99 == 100_000)
        #expect(control.limit == 16)
    }
}
