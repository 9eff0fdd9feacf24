import Foundation
import ServingProtocol
import SwiftProtobuf

extension RequestFuzzHarness {
    /// The request fuzzer's seed corpus (`Fuzz/Corpus/request`, written by `fuzz-request --write-seeds DIR`): valid
    /// requests of every method a client may call on the frontend, Predict for each served model in several shapes
    /// and dtypes (pinned versions, chosen outputs, a deadline, routing frames before the delimiter), and a few
    /// near-misses. Each is `FuzzFrames`-encoded, named for what it holds.
    public static var seeds: [(name: String, bytes: [UInt8])] {
        var seeds: [(String, [UInt8])] = []
        func add(_ name: String, _ method: Method, _ message: some SwiftProtobuf.Message, routing: [[UInt8]] = []) {
            let frames = routing + Envelope.request(method, payload: (try? message.serializedBytes()) ?? [])
            seeds.append((name, FuzzFrames.encode(frames)))
        }
        func mixed(rows: Int, version: Int64 = 0, outputs: [String] = []) -> Zserve_V1_PredictRequest {
            .with {
                $0.id = "mixed-\(rows)"
                $0.model.name = "mixed"
                $0.model.version = version
                $0.outputNames = outputs
                $0.inputs = [
                    tensor("x", .float32, [rows, 4], bytes: Array(repeating: 1, count: rows * 16)),
                    tensor("ids", .int64, [rows], bytes: Array(repeating: 2, count: rows * 8)),
                ]
            }
        }
        func dynamic(_ shape: [Int]) -> Zserve_V1_PredictRequest {
            .with {
                $0.model.name = "dynamic"
                $0.inputs = [
                    tensor("t", .float32, shape, bytes: Array(repeating: 0x3f, count: shape.reduce(1, *) * 4)),
                    tensor("s", .float64, [], bytes: Array(repeating: 0x40, count: 8)),
                ]
            }
        }
        add("predict-mixed-1", .predict, mixed(rows: 1))
        add("predict-mixed-3-v2", .predict, mixed(rows: 3, version: 2))
        add("predict-mixed-2-output-f", .predict, mixed(rows: 2, outputs: ["f"]))
        add("predict-mixed-0-rows", .predict, mixed(rows: 0))
        var deadline = mixed(rows: 2)
        deadline.timeoutUs = 5_000_000
        add("predict-mixed-deadline", .predict, deadline)
        add("predict-mixed-routed", .predict, mixed(rows: 1), routing: [Array("proxy".utf8), [0, 0, 0, 7]])
        add("predict-dynamic-scalar", .predict, dynamic([]))
        add("predict-dynamic-2x3", .predict, dynamic([2, 3]))
        add("predict-dynamic-1x1x1x2", .predict, dynamic([1, 1, 1, 2]))
        add("predict-dynamic-empty", .predict, dynamic([0, 5]))
        func words(_ strings: [[UInt8]], shape: [Int]? = nil) -> Zserve_V1_PredictRequest {
            .with {
                $0.model.name = "words"
                $0.inputs = [.with {
                    $0.name = "w"
                    $0.dtype = .string
                    $0.shape = (shape ?? [strings.count]).map(Int64.init)
                    $0.stringData = strings.map { Data($0) }
                }]
            }
        }
        add("predict-words-3", .predict, words([Array("web".utf8), Array("app".utf8), Array("Straße".utf8)]))
        add("predict-words-empty-strings", .predict, words([[], []]))
        add("predict-words-not-utf8", .predict, words([[0xff, 0xfe]]))
        add("predict-words-count-mismatch", .predict, words([Array("web".utf8)], shape: [2]))
        var rawStrings = words([])
        rawStrings.inputs[0].rawData = Data("web".utf8)
        rawStrings.inputs[0].shape = [1]
        add("predict-words-raw-data", .predict, rawStrings)
        add("predict-propensity-2", .predict, Zserve_V1_PredictRequest.with {
            $0.id = "p"
            $0.model.name = "purchase_propensity"
            $0.inputs = [tensor("features", .float32, [2, 8], bytes: Array(repeating: 0x41, count: 64))]
        })
        var wrongType = mixed(rows: 1)
        wrongType.inputs[1].dtype = .int32
        add("predict-mixed-wrong-dtype", .predict, wrongType)
        var missing = mixed(rows: 1)
        missing.inputs.removeLast()
        add("predict-mixed-missing-input", .predict, missing)
        add("predict-unknown-label", .predict, Zserve_V1_PredictRequest.with { $0.model.name = "mixed"; $0.model.label = "stable" })
        add("model-metadata", .modelMetadata, Zserve_V1_ModelMetadataRequest.with { $0.model.name = "dynamic" })
        add("model-ready", .modelReady, Zserve_V1_ModelReadyRequest.with { $0.model.name = "mixed"; $0.model.version = 1 })
        add("server-ready", .serverReady, Zserve_V1_ServerReadyRequest())
        add("list-models", .listModels, Zserve_V1_ListModelsRequest())
        add("model-status", .modelStatus, Zserve_V1_ModelStatusRequest.with { $0.model = "mixed" })
        add("unload-on-frontend", .unloadModel, Zserve_V1_UnloadModelRequest.with { $0.model = "mixed" })
        return seeds
    }

    private static func tensor(_ name: String, _ dtype: Zserve_V1_DataType, _ shape: [Int], bytes: [UInt8]) -> Zserve_V1_Tensor {
        .with {
            $0.name = name
            $0.dtype = dtype
            $0.shape = shape.map(Int64.init)
            $0.rawData = Data(bytes)
        }
    }
}
