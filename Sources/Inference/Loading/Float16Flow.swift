/// Float16 values followed through the graph at load, so that one reaching a kernel that does not compute on float16
/// is refused at load (naming the node and the input) rather than at the first request.
///
/// Element types are known for graph inputs, initializers and constants, and carried through each node by a small
/// rule set (most operators give input 0's type; Shape, Size and ArgMax give int64; comparisons bool; Cast its
/// target). A value whose type is not known is not checked, so the flow only ever refuses what would fail at run
/// time. This is not a full type inference: only float16 is followed, as the one element type most kernels lack.
struct Float16Flow {
    /// Operators whose kernels take float16 inputs: layout and indexing (element bytes moved, never computed on),
    /// casts, and the element-wise arithmetic that is generic over floating-point types.
    static let capable: Set<String> = [
        "Identity", "Reshape", "Flatten", "Squeeze", "Unsqueeze", "Transpose", "Slice", "Expand", "Tile", "Concat",
        "Gather", "GatherElements", "GatherND", "ScatterElements", "ScatterND", "Dropout", "Split", "Pad",
        "DepthToSpace", "SpaceToDepth", "Trilu", "Where", "Compress", "ReverseSequence", "CenterCropPad", "OneHot",
        "NonZero", "Shape", "Size", "Cast", "CastLike", "Constant",
        "ConstantOfShape", "EyeLike", "Resize", "Upsample", "Add", "Sub", "Mul", "Div", "Mod", "PRelu", "Max", "Min", "Sum", "Mean",
        // Control flow moves values in and out of its subgraphs, whose nodes are checked in their own flow.
        "If", "Loop", "Scan",
    ]

    /// Operators whose output 0 is int64 or bool whatever their inputs.
    static let int64Outputs: Set<String> = ["Shape", "Size", "ArgMax", "ArgMin", "NonZero", "SequenceLength"]
    static let boolOutputs: Set<String> = [
        "Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual", "And", "Or", "Xor", "Not", "IsNaN", "IsInf",
        "OptionalHasElement",
    ]

    private var types: [Int: ElementType] = [:]

    /// Records the type of value `index` (a graph input, an initializer or a folded constant).
    mutating func set(_ index: Int, _ type: ElementType) {
        types[index] = type
    }

    /// The recorded type of value `index`, if known.
    func type(of index: Int) -> ElementType? {
        types[index]
    }

    /// Checks one default-domain node's inputs and records its outputs' types; returns the problem to report, if any.
    /// `outputTypes`, when given, are the outputs' types as the node's kernel knows them (a control-flow node's, from
    /// its subgraphs' declared outputs).
    mutating func visit(
        opType: String, label: String, inputs: [Int], inputNames: [String], outputs: [Int], attributes: NodeAttributes,
        outputTypes: [ElementType?]? = nil
    ) -> String? {
        let inputTypes = inputs.map { $0 >= 0 ? types[$0] : nil }
        if !Self.capable.contains(opType), let position = inputTypes.firstIndex(of: .float16) {
            return "\(label): float16 input '\(inputNames[position])' (this runtime computes \(opType) in float32 or float64 only)"
        }
        if let outputTypes {
            for (index, type) in zip(outputs, outputTypes) { if let type { types[index] = type } }
            return nil
        }
        guard let first = outputs.first else { return nil }
        let output: ElementType?
        if Self.int64Outputs.contains(opType) {
            output = .int64
        } else if Self.boolOutputs.contains(opType) {
            output = .bool
        } else if opType == "Cast" {
            output = attributes.peekInt("to").flatMap { ElementType(rawValue: Int32(clamping: $0)) }
        } else if opType == "CastLike" {
            output = inputTypes.count > 1 ? inputTypes[1] : nil
        } else if opType == "Where" {
            output = inputTypes.count > 1 ? inputTypes[1] : nil
        } else if opType == "OneHot" {
            output = inputTypes.count > 2 ? inputTypes[2] : nil
        } else if opType == "EyeLike" {
            output = attributes.peekInt("dtype").flatMap { ElementType(rawValue: Int32(clamping: $0)) } ?? inputTypes.first ?? nil
        } else if opType == "ConstantOfShape" || opType == "Constant" {
            output = nil
        } else {
            output = inputTypes.first ?? nil
        }
        if let output { types[first] = output }
        return nil
    }
}
