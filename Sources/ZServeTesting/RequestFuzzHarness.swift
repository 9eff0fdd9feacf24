import Foundation
import Inference
import ServingProtocol
import ZServe

/// The request path under fuzzing: frames as a client sent them (envelope, Predict decoding, validation against a
/// model's signature, the run) through the broker core and a worker's Predict handling, in process, and the promises
/// every reply keeps whatever the input.
///
/// The server serves small real ONNX models chosen to reach every validation branch — fixed and any-size dimensions,
/// unknown rank, a scalar, float32/float64/int64/string inputs, two inputs, two versions — and the bundled example
/// model.
/// `check(_:)` is the whole fuzz target (the fuzzer aborts on what it returns); regression tests call it on inputs the
/// fuzzer found. Not thread-safe (one caller at a time, like `InProcessServer`).
public final class RequestFuzzHarness {
    public let server: InProcessServer
    private let repository: TemporaryRepository

    /// Writes the models to a temporary repository and starts the in-process server on it (one worker, no batching).
    ///
    /// - Throws: when a model cannot be written or the repository read.
    public init() throws {
        repository = try TemporaryRepository()
        for version in [1, 2] as [Int64] {
            try repository.add("mixed", version: version, bytes: try Self.mixedModel())
        }
        try repository.add("dynamic", bytes: try Self.dynamicModel())
        try repository.add("words", bytes: try Self.wordsModel())
        let example = Fixtures.exampleRepository.appendingPathComponent("purchase_propensity/1/model.onnx")
        if FileManager.default.fileExists(atPath: example.path) {
            try repository.add("purchase_propensity", copying: example)
        }
        server = try InProcessServer(configuration: ServerConfiguration(
            repository: repository.root, listen: "inproc://unused", workers: 1))
    }

    /// Sends the frames `input` decodes to (`FuzzFrames`) and checks the reply.
    ///
    /// - Returns: the first promise the reply broke, nil when it kept them all: the client's routing frames come
    ///   back, then [empty][status][response]; the status parses and is not INTERNAL or UNKNOWN (bad input gets a
    ///   precise status); an error carries a message and no response; an OK Predict's response decodes and each output
    ///   has a valid shape whose size matches its bytes.
    public func check(_ input: some Collection<UInt8>) -> String? {
        let (frames, truncated) = FuzzFrames.decode(input)
        let reply = server.receive(frames: frames, truncated: truncated)
        let delimiter = frames.firstIndex { $0.isEmpty }
        let routing = delimiter.map { Array(frames[..<$0]) } ?? []
        guard reply.count == routing.count + 3, Array(reply.prefix(routing.count)) == routing, reply[routing.count].isEmpty else {
            return "reply frames \(reply.map(\.count)) do not echo routing \(routing.map(\.count)) then [empty][status][response]"
        }
        let status: Zserve_V1_Status
        do {
            status = try Zserve_V1_Status(serializedBytes: reply[routing.count + 1])
        } catch {
            return "status frame does not parse: \(error)"
        }
        let response = reply[routing.count + 2]
        guard status.code == .ok else {
            if status.code == .internal || status.code == .unknown { return "\(status.code): \(status.message)" }
            if status.message.isEmpty { return "\(status.code) without a message" }
            return response.isEmpty ? nil : "\(status.code) with a \(response.count)-byte response"
        }
        let method = delimiter.flatMap { frames.indices.contains($0 + 1) ? Method(frame: frames[$0 + 1]) : nil }
        guard method == .predict else { return nil }
        let predicted: Zserve_V1_PredictResponse
        do {
            predicted = try Zserve_V1_PredictResponse(serializedBytes: response)
        } catch {
            return "OK Predict response does not decode: \(error)"
        }
        for output in predicted.outputs {
            guard let elementType = ElementType(rawValue: Int32(output.dtype.rawValue)) else {
                return "output '\(output.name)' has dtype \(output.dtype)"
            }
            let shape = output.shape.map { Int(clamping: $0) }
            guard (try? shape.validateShape()) != nil else { return "output '\(output.name)' has shape \(shape)" }
            if elementType == .string {
                guard shape.elementCount == output.stringData.count, output.rawData.isEmpty else {
                    return "string output '\(output.name)' of shape \(shape) has \(output.stringData.count) strings"
                }
            } else {
                guard shape.elementCount * elementType.byteSize == output.rawData.count, output.stringData.isEmpty else {
                    return "output '\(output.name)' of shape \(shape) has \(output.rawData.count) bytes"
                }
            }
        }
        return nil
    }

    /// "mixed": x float32 [?, 4] and ids int64 [?]; y = x + x, f = float(ids).
    static func mixedModel() throws -> Data {
        var graph = ONNXGraphBuilder()
        graph.input("x", .float32, [nil, 4])
        graph.input("ids", .int64, [nil])
        graph.node("Add", ["x", "x"], ["y"])
        graph.node("Cast", ["ids"], ["f"], ["to": Int(ElementType.float32.rawValue)])
        graph.output("y", .float32, [nil, 4])
        graph.output("f", .float32, [nil])
        return try graph.serialized()
    }

    /// "words": w string [?]; shout = w + "!", code = LabelEncoder(w) (web 1, app 2, else -1). Public: the string
    /// serving tests use it too.
    public static func wordsModel() throws -> Data {
        var graph = ONNXGraphBuilder(opset: 20)
        graph.importDomain("ai.onnx.ml", version: 2)
        graph.input("w", .string, [nil])
        graph.initializer("bang", Tensor(strings: ["!"], shape: [1]))
        graph.node("StringConcat", ["w", "bang"], ["shout"])
        graph.node("LabelEncoder", ["w"], ["code"], domain: "ai.onnx.ml", ["keys_strings": ["web", "app"], "values_int64s": [1, 2]])
        graph.output("shout", .string, [nil])
        graph.output("code", .int64, [nil])
        return try graph.serialized()
    }

    /// "dynamic": t float32 of any rank and shape, s a float64 scalar; r = relu(t), n = -s.
    static func dynamicModel() throws -> Data {
        var graph = ONNXGraphBuilder()
        graph.input("t", .float32, nil)
        graph.input("s", .float64, [])
        graph.node("Relu", ["t"], ["r"])
        graph.node("Neg", ["s"], ["n"])
        graph.output("r", .float32, nil)
        graph.output("n", .float64, [])
        return try graph.serialized()
    }
}
