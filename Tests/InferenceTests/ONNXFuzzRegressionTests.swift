import Foundation
import Inference
import Testing
import ZServeTesting

/// The ONNX fuzzer's inputs outside the fuzzer: its seeds load and run, and every file it ever failed on
/// (Fuzz/Regressions/onnx) is now refused or run without breaking a promise.
@Suite struct ONNXFuzzRegressionTests {
    @Test func theHarnessSeedsLoadAndRunCleanly() throws {
        let seeds = ModelFuzzHarness.seeds
        #expect(seeds.count == 3)
        for seed in seeds {
            _ = try Model(onnx: Data(seed.bytes))
            #expect(ModelFuzzHarness.check(seed.bytes) == nil, "\(seed.name)")
        }
    }

    @Test func filesTheFuzzerFailedOnAreHandled() throws {
        let folder = Fixtures.packageRoot.appendingPathComponent("Fuzz/Regressions/onnx")
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []
        for name in names.sorted() {
            let bytes = try [UInt8](Data(contentsOf: folder.appendingPathComponent(name)))
            #expect(ModelFuzzHarness.check(bytes) == nil, "Fuzz/Regressions/onnx/\(name)")
        }
    }
}
