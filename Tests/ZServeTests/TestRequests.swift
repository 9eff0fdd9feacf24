import Foundation
import Inference
import ServingProtocol
import Testing
import ZServe
import ZServeTesting

/// A repository holding the example model and a few of the onnx.helper fixtures.
func standardRepository() throws -> TemporaryRepository {
    let repository = try TemporaryRepository()
    try repository.add(
        "purchase_propensity",
        copying: Fixtures.exampleRepository.appendingPathComponent("purchase_propensity/1/model.onnx"))
    for reference in Fixtures.referenceCases() where ["ctr_mlp", "multi_output_two_heads", "multi_input_concat"].contains(reference.name) {
        try repository.add(reference.name, copying: reference.modelFile)
    }
    return repository
}

/// A float32 wire tensor.
func wireTensor(_ name: String, _ values: [Float], _ shape: [Int64]) -> Zserve_V1_Tensor {
    .with {
        $0.name = name
        $0.dtype = .float32
        $0.shape = shape
        $0.rawData = values.withUnsafeBytes { Data($0) }
    }
}

/// A Predict request for the example model with `rows` rows of features.
func propensityRequest(id: String = "", rows: Int = 2) -> Zserve_V1_PredictRequest {
    .with {
        $0.id = id
        $0.model.name = "purchase_propensity"
        let row: [Float] = [30, 5, 900, 180, 40, 300, 0.1, 1]
        $0.inputs = [wireTensor("features", Array((0..<rows).map { _ in row }.joined()), [Int64(rows), 8])]
    }
}

/// The runtime tensor a wire tensor holds.
func tensor(_ wire: Zserve_V1_Tensor) throws -> Tensor {
    let type = try #require(ElementType(rawValue: Int32(wire.dtype.rawValue)))
    return wire.rawData.withUnsafeBytes { Tensor(elementType: type, shape: wire.shape.map { Int($0) }, copying: $0) }
}

/// Splits reply frames [empty][status][response] into the status and response bytes.
func parseReply(_ frames: [[UInt8]]?) throws -> (Zserve_V1_Status, [UInt8]) {
    let frames = try #require(frames, "no reply")
    try #require(frames.count == 3 && frames[0].isEmpty, "reply frames: \(frames.count)")
    let reply = try ReplyEnvelope(frames: frames)
    return (reply.status, reply.response)
}

