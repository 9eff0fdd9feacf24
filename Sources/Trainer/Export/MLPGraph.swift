import Foundation

/// Writes an `MLP` as a plain ONNX graph: Sub (mean), Div (deviation), Gemm + Relu per hidden layer, a last Gemm.
///
/// Input `features` float [N, F]; outputs named by the caller, computed from the last Gemm's [N, 1] `raw` output by
/// `head` (e.g. Sigmoid for a probability, or Exp − 1 for units from log1p units).
enum MLPGraph {
    static func export(
        _ network: MLP, name: String, doc: String, featureNames: [String],
        outputs: [(name: String, doc: String)], head: (inout ONNXModelBuilder, String) -> [String],
        metadata: [String: String]
    ) throws -> Data {
        var graph = ONNXModelBuilder(name: name, doc: doc)
        let width = network.sizes[0]
        graph.input("features", .float, [nil, width], doc: "raw features in this order: " + featureNames.joined(separator: ", "))
        let mean = graph.constant("feature_mean", floats: network.mean, shape: [width])
        let deviation = graph.constant("feature_deviation", floats: network.deviation, shape: [width])
        var value = graph.node("Div", [graph.node("Sub", ["features", mean]), deviation])
        for layer in 0..<network.weights.count {
            let weight = graph.constant("dense\(layer + 1)_weight", floats: network.weights[layer],
                                        shape: [network.sizes[layer], network.sizes[layer + 1]])
            let bias = graph.constant("dense\(layer + 1)_bias", floats: network.biases[layer], shape: [network.sizes[layer + 1]])
            value = graph.node("Gemm", [value, weight, bias])
            if layer < network.weights.count - 1 { value = graph.node("Relu", [value]) }
        }
        let produced = head(&graph, value)
        for (index, output) in outputs.enumerated() {
            graph.node("Identity", [produced[index]], outputs: [output.name])
            graph.output(output.name, .float, [nil, 1], doc: output.doc)
        }
        var properties = metadata
        properties["feature_names"] = featureNames.joined(separator: ",")
        graph.metadata(properties)
        return try graph.serialized()
    }
}
