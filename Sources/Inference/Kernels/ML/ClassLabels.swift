/// The integer class labels of an ai.onnx.ml classifier.
enum ClassLabels {
    /// Reads the integer labels in `attribute` (`classlabels_ints`, or `classlabels_int64s` for tree ensembles).
    ///
    /// - Throws: `InferenceError.unsupported` for string labels (`classlabels_strings`): ZServe's tensors are numeric,
    ///   and the message tells the user how to export integer labels instead.
    static func integers(_ node: NodeDefinition, attribute: String) throws -> [Int64] {
        if let strings = try node.attributes.strings("classlabels_strings"), !strings.isEmpty {
            throw InferenceError.unsupported([
                "\(node.label) with string class labels (classlabels_strings): ZServe outputs numeric tensors only; "
                    + "encode the labels as integers before training (e.g. sklearn LabelEncoder) so the exporter "
                    + "writes \(attribute)",
            ])
        }
        return (try node.attributes.ints(attribute) ?? []).map(Int64.init)
    }
}
