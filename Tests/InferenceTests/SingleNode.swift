import Foundation
import Inference
import ZServeTesting

/// Runs one operator on `inputs` through the whole loader and session. Graph inputs declare every dimension
/// symbolic, so kernels see shapes only at run time; `constantInputs` become initializers instead. The session's
/// memory limit is `memoryLimit`.
func runNode(
    _ opType: String, _ inputs: [Tensor], opset: Int = 17, attributes: [String: Any] = [:], outputs: Int = 1,
    constantInputs: Set<Int> = [], memoryLimit: Int = 4 << 30
) throws -> [Tensor] {
    var graph = ONNXGraphBuilder(opset: opset)
    var names: [String] = []
    for (position, tensor) in inputs.enumerated() {
        let name = "in\(position)"
        names.append(name)
        if constantInputs.contains(position) {
            graph.initializer(name, tensor)
        } else {
            graph.input(name, tensor.elementType, tensor.shape.map { _ in nil })
        }
    }
    let outputNames = (0..<outputs).map { "out\($0)" }
    graph.node(opType, names, outputNames, attributes)
    for name in outputNames { graph.output(name, .float32, nil) }
    let model = try Model(onnx: graph.serialized())
    let session = model.makeSession(memoryLimit: memoryLimit)
    var position = 0
    for (index, tensor) in inputs.enumerated() where !constantInputs.contains(index) {
        try session.setInput(position, tensor)
        position += 1
    }
    return try session.run()
}

func floats(_ values: [Float], _ shape: [Int]) -> Tensor {
    Tensor(float32: values, shape: shape)
}

func int64s(_ values: [Int64], _ shape: [Int]) -> Tensor {
    Tensor(int64: values, shape: shape)
}
