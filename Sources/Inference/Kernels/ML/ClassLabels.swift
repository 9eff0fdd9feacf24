/// The class labels of an `ai.onnx.ml` classifier: integers (`classlabels_ints` / `classlabels_int64s`) or strings
/// (`classlabels_strings`).
///
/// Kernels compute with `values` — the integer labels, or each string label's position — and write them through
/// `output(_:rows:)`, which is an int64 tensor, or a string tensor of the labels at those positions.
struct ClassLabels: Sendable {
    /// The integer labels, or 0, 1, … for string labels.
    let values: [Int64]
    /// The string labels, when the model has them.
    let names: [String]?

    var count: Int { values.count }

    subscript(position: Int) -> Int64 { values[position] }

    /// Reads the labels of `node`, whose integer labels are in `attribute`.
    ///
    /// - Throws: `InferenceError.invalidModel` when both kinds are given, or string labels are fewer than two.
    init(_ node: NodeDefinition, integers attribute: String) throws {
        let strings = try node.attributes.strings("classlabels_strings") ?? []
        let integers = try node.attributes.ints(attribute) ?? []
        guard strings.isEmpty || integers.isEmpty else {
            throw InferenceError.invalidModel("\(node.label) has both string and integer class labels")
        }
        if strings.isEmpty {
            values = integers.map(Int64.init)
            names = nil
        } else {
            guard strings.count >= 2 else {
                throw InferenceError.invalidModel("\(node.label) needs two or more string class labels")
            }
            values = Array(0..<Int64(strings.count))
            names = strings
        }
    }

    /// The label output `position` of `rows` labels, to fill with `LabelOutput.set`.
    func output(_ io: NodeIO, _ position: Int, rows: Int) throws(InferenceError) -> LabelOutput {
        if let names {
            let tensor = try io.output(position, .string, [rows], writingStrings: true)
            return LabelOutput(integers: nil, strings: tensor.mutableElements(as: String.self), names: names)
        }
        let tensor = try io.output(position, .int64, [rows])
        return LabelOutput(integers: tensor.mutableElements(as: Int64.self), strings: nil, names: [])
    }
}

/// A classifier's label output being filled: int64 labels as computed, or the string label at each computed position.
struct LabelOutput {
    let integers: UnsafeMutableBufferPointer<Int64>?
    let strings: UnsafeMutableBufferPointer<String>?
    let names: [String]

    /// Writes the label of `row`: `value` is what `ClassLabels.values` holds for the chosen class.
    @inline(__always)
    func set(_ row: Int, _ value: Int64) {
        if let integers {
            integers[row] = value
        } else if let strings, let position = Int(exactly: value), names.indices.contains(position) {
            strings[row] = names[position]
        }
    }
}
