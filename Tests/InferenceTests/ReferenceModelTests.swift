import Foundation
import Inference
import Testing
import ZServeTesting

/// Whole models built by `scripts/make_test_models.py` with onnx.helper, compared with onnxruntime's outputs computed
/// in the same test run (rtol 1e-4).
@Suite struct ReferenceModelTests {
    @Test func fixturesWereGenerated() {
        #expect(
            !Fixtures.referenceCases().isEmpty,
            "no fixtures in \(Fixtures.root.path): run scripts/test.sh, or scripts/make_test_models.py --out .fixtures")
    }

    @Test(arguments: Fixtures.referenceCases())
    func matchesOnnxruntime(_ reference: ReferenceCase) throws {
        let model = try Model(contentsOf: reference.modelFile)
        let session = model.makeSession()
        for dataSet in try reference.dataSets() {
            for (name, tensor) in dataSet.inputs {
                let position = try #require(model.inputs.firstIndex { $0.name == name }, "input \(name)")
                try session.setInput(position, tensor)
            }
            let outputs = try session.run()
            #expect(outputs.count == dataSet.outputs.count)
            for ((name, expected), actual) in zip(dataSet.outputs, outputs) {
                let mismatch = Tolerance.mismatch(actual, expected)
                #expect(mismatch == nil, "output \(name): \(mismatch ?? "")")
            }
        }
    }
}
