import Foundation
import Inference
import ONNXSchema
import Testing
import ZServeTesting

/// ONNX's own backend node tests (shipped in the onnx wheel), run through the loader and a session; the report also
/// covers ONNX's model suites (`ModelSuites`).
///
/// Every node test whose model loads must pass on every data set with ONNX's backend tolerances (rtol 1e-3,
/// atol 1e-7; integers and bools exact). A model the loader refuses as `.unsupported` is skipped with that reason, as
/// is a test whose graph inputs or outputs are maps; sequences and optionals go through `SequenceValueTests`. With `ZSERVE_OPERATOR_REPORT=FILE` set, `operatorReport`
/// also writes every test's outcome and operators as JSON to FILE (`scripts/operator_report.py` turns it into
/// `docs/operators.md`).
enum NodeTests {
    /// `$ZSERVE_ONNX_NODE_TESTS`, else `onnx/backend/test/data/node` in the package's `.venv`; nil when neither exists.
    static let directory: URL? = {
        let files = FileManager.default
        if let path = ProcessInfo.processInfo.environment["ZSERVE_ONNX_NODE_TESTS"], !path.isEmpty {
            return URL(fileURLWithPath: path)
        }
        let lib = Fixtures.packageRoot.appendingPathComponent(".venv/lib")
        let pythons = ((try? files.contentsOfDirectory(atPath: lib.path)) ?? []).filter { $0.hasPrefix("python3") }.sorted()
        for python in pythons.reversed() {
            let candidate = lib.appendingPathComponent(python)
                .appendingPathComponent("site-packages/onnx/backend/test/data/node")
            if files.fileExists(atPath: candidate.path) { return candidate }
        }
        return nil
    }()

    /// Every node test, sorted by name.
    static let cases: [ReferenceCase] = {
        guard let directory else { return [] }
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        return names.filter { $0.hasPrefix("test_") }.sorted().map {
            ReferenceCase(name: $0, directory: directory.appendingPathComponent($0))
        }
    }()

    enum Outcome {
        case passed
        case skipped(String)
        case failed(String)
    }

    /// The operators (op_type, default domain unless named) of the test's top-level graph, and its opset.
    static func describe(_ modelFile: URL) -> (operators: [String], opset: Int) {
        guard let bytes = try? Data(contentsOf: modelFile),
              let model = try? Onnx_ModelProto(serializedBytes: bytes)
        else { return ([], 0) }
        let operators = Set(model.graph.node.map { node in
            node.domain.isEmpty || node.domain == "ai.onnx" ? node.opType : "\(node.domain).\(node.opType)"
        })
        let opset = model.opsetImport.filter { $0.domain.isEmpty || $0.domain == "ai.onnx" }.map { Int($0.version) }.max()
        return (operators.sorted(), opset ?? 0)
    }

    /// Why the test's graph cannot be fed from tensor files, or nil when every graph input and output is a tensor.
    static func nonTensorValue(_ reference: ReferenceCase) -> String? {
        guard let bytes = try? Data(contentsOf: reference.modelFile),
              let model = try? Onnx_ModelProto(serializedBytes: bytes)
        else { return nil }
        for value in model.graph.input + model.graph.output {
            guard case .tensorType? = value.type.value else {
                return "graph value '\(value.name)' is not a tensor (a sequence, optional or map)"
            }
        }
        return nil
    }

    /// Node tests whose expected outputs numpy computed in float32 with another algorithm (its FFT), so that
    /// outputs near zero carry that algorithm's roundoff (1.9e-7 where the exact value is 0), beyond ONNX's atol
    /// 1e-7. They are compared as two summation orders of `terms` terms instead (`Tolerance.reductionMismatch`),
    /// each output's magnitude bounded by the sum of the input's absolute values.
    static let float32Transforms = ["test_dft_inverse": 10, "test_dft_inverse_opset19": 10]

    /// Loads and runs one node test.
    static func evaluate(_ reference: ReferenceCase) -> Outcome {
        if let reason = nonTensorValue(reference) {
            return SequenceValueTests.evaluate(reference) ?? .skipped(reason)
        }
        return evaluate(modelFile: reference.modelFile, dataSets: reference.dataSets,
                        sumTerms: float32Transforms[reference.name])
    }

    /// Loads the model in `modelFile` and runs it on every data set, comparing with ONNX's backend tolerances.
    static func evaluate(
        modelFile: URL, dataSets: () throws -> [(inputs: [(String, Tensor)], outputs: [(String, Tensor)])],
        sumTerms: Int? = nil
    ) -> Outcome {
        let model: Model
        do {
            model = try Model(contentsOf: modelFile)
        } catch InferenceError.unsupported(let items) {
            return .skipped("unsupported: " + items.joined(separator: ", "))
        } catch {
            return .failed("load: \(error)")
        }
        let sets: [(inputs: [(String, Tensor)], outputs: [(String, Tensor)])]
        do {
            sets = try dataSets()
        } catch {
            return .skipped("test data is not tensors: \(error)")
        }
        let session = model.makeSession()
        for (setIndex, dataSet) in sets.enumerated() {
            do {
                for (position, (name, tensor)) in dataSet.inputs.enumerated() {
                    let index = model.inputs.firstIndex { $0.name == name } ?? position
                    guard index < model.inputs.count else { return .failed("data set \(setIndex): extra input \(name)") }
                    try session.setInput(index, tensor)
                }
                let outputs = try session.run()
                guard outputs.count == dataSet.outputs.count else {
                    return .failed("data set \(setIndex): \(outputs.count) outputs, expected \(dataSet.outputs.count)")
                }
                for (position, ((name, expected), actual)) in zip(dataSet.outputs, outputs).enumerated() {
                    let mismatch: String?
                    if let sumTerms, expected.elementType == .float32, let input = dataSet.inputs.first?.1,
                       input.elementType == .float32 {
                        let bound = input.elements(as: Float.self).reduce(0) { $0 + abs($1) }
                        let magnitudes = Tensor(float32: [Float](repeating: bound, count: expected.count), shape: expected.shape)
                        mismatch = Tolerance.reductionMismatch(actual, expected, terms: sumTerms, magnitudes: magnitudes)
                    } else {
                        mismatch = Tolerance.mismatch(actual, expected, rtol: 1e-3, atol: 1e-7)
                    }
                    if let mismatch {
                        return .failed("data set \(setIndex) output \(position) '\(name)': \(mismatch)")
                    }
                }
            } catch {
                return .failed("data set \(setIndex): \(error)")
            }
        }
        return .passed
    }

    /// The report entry of one test: name, operators, opset, status and reason.
    static func entry(name: String, modelFile: URL, outcome: Outcome) -> [String: Any] {
        let (operators, opset) = describe(modelFile)
        var entry: [String: Any] = ["name": name, "operators": operators, "opset": opset]
        switch outcome {
        case .passed: entry["status"] = "passed"
        case .skipped(let reason): entry["status"] = "skipped"; entry["reason"] = reason
        case .failed(let message): entry["status"] = "failed"; entry["reason"] = message
        }
        return entry
    }
}

@Suite struct NodeConformanceTests {
    @Test func nodeTestsAreInstalled() throws {
        let directory = try #require(
            NodeTests.directory,
            "ONNX node tests not found: set ZSERVE_ONNX_NODE_TESTS or run scripts/setup.sh (onnx in .venv)")
        #expect(!NodeTests.cases.isEmpty, "no node tests in \(directory.path)")
    }

    @Test(arguments: NodeTests.cases)
    func nodeTest(_ reference: ReferenceCase) throws {
        switch NodeTests.evaluate(reference) {
        case .passed: break
        case .skipped(let reason): try Test.cancel("skipped: \(reason)")
        case .failed(let message): Issue.record("\(reference.name): \(message)")
        }
    }

    /// Writes the JSON report when `$ZSERVE_OPERATOR_REPORT` names a file; does nothing otherwise.
    @Test func operatorReport() throws {
        guard let path = ProcessInfo.processInfo.environment["ZSERVE_OPERATOR_REPORT"], !path.isEmpty else { return }
        let tests = NodeTests.cases.map {
            NodeTests.entry(name: $0.name, modelFile: $0.modelFile, outcome: NodeTests.evaluate($0))
        }
        var suites: [String: [[String: Any]]] = [:]
        for suiteCase in ModelSuites.cases {
            suites[suiteCase.suite, default: []].append(
                NodeTests.entry(name: suiteCase.name, modelFile: suiteCase.modelFile, outcome: suiteCase.evaluate()))
        }
        let report: [String: Any] = [
            "onnx_node_tests": NodeTests.directory?.path ?? "",
            "supported_operators": OperatorRegistry.standard.operators,
            "tests": tests,
            "suites": suites,
        ]
        let data = try JSONSerialization.data(withJSONObject: report, options: [.prettyPrinted, .sortedKeys])
        try data.write(to: URL(fileURLWithPath: path))
    }
}
