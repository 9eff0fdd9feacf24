import Foundation
import Inference
import ONNXSchema
import ZServeTesting

/// The graph `build` makes with `ONNXGraphBuilder`, as a graph attribute's value.
func subgraph(_ build: (inout ONNXGraphBuilder) -> Void) throws -> Onnx_GraphProto {
    var builder = ONNXGraphBuilder(opset: 17)
    build(&builder)
    return try Onnx_ModelProto(serializedBytes: builder.serialized()).graph
}

func graphAttribute(_ name: String, _ graph: Onnx_GraphProto) -> Onnx_AttributeProto {
    .with {
        $0.name = name
        $0.type = .graph
        $0.g = graph
    }
}

/// The model `builder` makes, with `graphs` attached as attributes of its node at `index`.
func attaching(_ graphs: [String: Onnx_GraphProto], toNode index: Int, of builder: ONNXGraphBuilder) throws -> Data {
    var model = try Onnx_ModelProto(serializedBytes: builder.serialized())
    for (name, graph) in graphs.sorted(by: { $0.key < $1.key }) {
        model.graph.node[index].attribute.append(graphAttribute(name, graph))
    }
    return try model.serializedData()
}

func bools(_ values: [Bool]) -> Tensor {
    values.map { UInt8($0 ? 1 : 0) }.withUnsafeBytes { Tensor(elementType: .bool, shape: [], copying: $0) }
}
