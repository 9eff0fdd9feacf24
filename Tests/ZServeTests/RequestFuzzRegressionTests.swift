import Foundation
import ServingProtocol
import Testing
import ZServeTesting

/// The request fuzzer's harness and inputs outside the fuzzer: its frame format, its seeds (each must reach the part
/// of the server it is for) and every input the fuzzer ever failed on (Fuzz/Regressions/request), replayed through
/// the same checks.
@Suite struct RequestFuzzRegressionTests {
    let harness: RequestFuzzHarness

    init() throws {
        harness = try RequestFuzzHarness()
    }

    @Test func framesRoundTripAndDecodeLikeARouterReadsThem() {
        let frames: [[UInt8]] = [[], Array("zserve.v1.Inference/Predict".utf8), [UInt8](repeating: 7, count: 300)]
        #expect(FuzzFrames.decode(FuzzFrames.encode(frames)).frames == frames)
        #expect(FuzzFrames.decode(FuzzFrames.encode(frames)).truncated == false)
        // A length past the end takes what is left; a varint cut short ends the input.
        #expect(FuzzFrames.decode([5, 1, 2]).frames == [[1, 2]])
        #expect(FuzzFrames.decode([0, 0x80]).frames == [[]])
        let many = FuzzFrames.decode(FuzzFrames.encode(Array(repeating: [1], count: 20)))
        #expect(many.frames.count == FuzzFrames.limit)
        #expect(many.truncated)
    }

    @Test func theCommittedSeedCorpusIsWhatTheHarnessWrites() throws {
        let folder = Fixtures.packageRoot.appendingPathComponent("Fuzz/Corpus/request")
        let committed = try FileManager.default.contentsOfDirectory(atPath: folder.path).sorted()
        let seeds = RequestFuzzHarness.seeds
        #expect(committed == seeds.map(\.name).sorted())
        for seed in seeds {
            #expect(try [UInt8](Data(contentsOf: folder.appendingPathComponent(seed.name))) == seed.bytes, "\(seed.name)")
        }
    }

    @Test func everySeedKeepsTheRepliesPromisesAndValidOnesAreServed() throws {
        let refused: [String: Zserve_V1_Code] = [
            "predict-mixed-wrong-dtype": .invalidArgument, "predict-mixed-missing-input": .invalidArgument,
            "predict-unknown-label": .notFound, "unload-on-frontend": .permissionDenied,
            "predict-words-not-utf8": .invalidArgument, "predict-words-count-mismatch": .invalidArgument,
            "predict-words-raw-data": .invalidArgument,
        ]
        for seed in RequestFuzzHarness.seeds {
            #expect(harness.check(seed.bytes) == nil, "\(seed.name)")
            let (frames, _) = FuzzFrames.decode(seed.bytes)
            let reply = harness.server.receive(frames: frames)
            let status = try Zserve_V1_Status(serializedBytes: try #require(reply.dropLast().last))
            #expect(status.code == refused[seed.name] ?? .ok, "\(seed.name): \(status.message)")
        }
    }

    @Test func inputsTheFuzzerFailedOnAreAnsweredProperly() throws {
        for (name, bytes) in try Self.regressionInputs("request") {
            #expect(harness.check(bytes) == nil, "Fuzz/Regressions/request/\(name)")
        }
    }

    /// The files under Fuzz/Regressions/`target`, by name.
    static func regressionInputs(_ target: String) throws -> [(String, [UInt8])] {
        let folder = Fixtures.packageRoot.appendingPathComponent("Fuzz/Regressions/\(target)")
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []
        return try names.sorted().map { ($0, [UInt8](try Data(contentsOf: folder.appendingPathComponent($0)))) }
    }
}
