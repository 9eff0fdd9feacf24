/// Element types followed through the graph at load, so that a value reaching a kernel that does not take its type is
/// refused at load (naming the node and the input) rather than at the first request.
///
/// Element types are known for graph inputs, initializers and constants, and carried through each node by a small
/// rule set (most operators give input 0's type; Shape, Size and ArgMax give int64; comparisons bool; Cast its
/// target; quantization operators their integer or scale type; the `ai.onnx.ml` encoders and classifiers what their
/// attributes say). Two kinds of check use them: lists of the operators that take the types most kernels lack
/// (float16, string, int16, uint16, uint32, uint64), and the types the compute kernels declare themselves
/// (`DeclaresElementTypes`: Gemm, MatMul, Conv, activations, pooling, normalization, Softmax, unary math). A value whose
/// type is not known is not checked, so the flow only ever refuses what would fail at run time; kernels that declare
/// nothing still check their inputs when they run. (A kernel that is reached by a string anyway cannot harm memory:
/// `NodeIO.output` refuses string outputs to kernels that do not ask for them.)
struct ElementTypeFlow {
    /// Operators that move fixed-size elements without computing on them: layout and indexing, casts, and control
    /// flow (which moves values in and out of its subgraphs, whose nodes are checked in their own flow).
    static let elementMovers: Set<String> = [
        "Identity", "Reshape", "Flatten", "Squeeze", "Unsqueeze", "Transpose", "Slice", "Expand", "Tile", "Concat",
        "Gather", "GatherElements", "GatherND", "Dropout", "Split", "Pad", "DepthToSpace", "SpaceToDepth", "Where",
        "Compress", "ReverseSequence", "Shape", "Size", "Cast", "CastLike", "Constant", "EyeLike", "If", "Loop",
        "Scan",
    ]

    /// Operators whose kernels take float16 inputs: the movers, scatters and generators, and the element-wise
    /// arithmetic that is generic over floating-point types.
    static let float16Capable: Set<String> = elementMovers.union([
        "ScatterElements", "ScatterND", "TensorScatter", "Trilu", "CenterCropPad", "OneHot", "NonZero",
        "ConstantOfShape", "Resize", "Upsample", "Add", "Sub", "Mul", "Div", "Mod", "PRelu", "Max", "Min", "Sum",
        "Mean",
    ])

    /// Default-domain operators whose kernels take string inputs: views, casts, comparison, the indexing that
    /// classic-ML exports use, the string operators, and control flow.
    static let stringCapable: Set<String> = [
        "Identity", "Reshape", "Flatten", "Squeeze", "Unsqueeze", "Shape", "Size", "Cast", "CastLike", "Constant",
        "Equal", "Where", "Concat", "Gather", "StringNormalizer", "RegexFullMatch", "StringConcat", "StringSplit",
        "TfIdfVectorizer", "If", "Loop", "Scan",
    ]

    /// The integer types most kernels lack (int8, uint8, int32 and int64 are computed on everywhere integers are).
    static let uncommonIntegers: Set<ElementType> = [.int16, .uint16, .uint32, .uint64]

    /// Default-domain operators whose kernels take int16, uint16, uint32 and uint64 inputs: the movers, and the
    /// arithmetic, comparison, bitwise, selection and quantization kernels generic over integer types.
    static let uncommonIntegerCapable: Set<String> = elementMovers.union([
        "Add", "Sub", "Mul", "Div", "Mod", "Max", "Min", "Clip", "Pow", "TopK", "Unique", "Equal", "Less", "Greater",
        "LessOrEqual", "GreaterOrEqual", "BitwiseAnd", "BitwiseOr", "BitwiseXor", "BitwiseNot", "BitShift",
        "QuantizeLinear", "DequantizeLinear",
    ])

    /// `ai.onnx.ml` operators whose kernels take string inputs.
    static let mlStringCapable: Set<String> = ["LabelEncoder", "OneHotEncoder", "CategoryMapper", "ArrayFeatureExtractor"]

    /// Operators whose output 0 is int64 or bool whatever their inputs.
    static let int64Outputs: Set<String> = ["Shape", "Size", "ArgMax", "ArgMin", "NonZero", "SequenceLength", "NonMaxSuppression"]
    static let boolOutputs: Set<String> = [
        "Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual", "And", "Or", "Xor", "Not", "IsNaN", "IsInf",
        "OptionalHasElement", "RegexFullMatch",
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

    /// Checks one node's inputs and records its outputs' types; returns the problem to report, if any.
    /// `kernel`, when it declares its input types (`DeclaresElementTypes`), is checked against the known types.
    /// `outputTypes`, when given, are the outputs' types as the node's kernel knows them (a control-flow node's, from
    /// its subgraphs' declared outputs). `isML` says the node is in the `ai.onnx.ml` domain.
    mutating func visit(
        opType: String, isML: Bool = false, label: String, inputs: [Int], inputNames: [String], outputs: [Int],
        attributes: NodeAttributes, outputTypes: [ElementType?]? = nil, kernel: Kernel? = nil
    ) -> String? {
        let inputTypes = inputs.map { $0 >= 0 ? types[$0] : nil }
        let takesStrings = isML ? Self.mlStringCapable.contains(opType) : Self.stringCapable.contains(opType)
        if !takesStrings, let position = inputTypes.firstIndex(of: .string) {
            return "\(label): string input '\(inputNames[position])' (\(opType) does not take string tensors here)"
        }
        if isML || !Self.uncommonIntegerCapable.contains(opType),
           let position = inputTypes.firstIndex(where: { $0.map(Self.uncommonIntegers.contains) ?? false }) {
            return "\(label): \(inputTypes[position]!) input '\(inputNames[position])' (\(opType) does not take it here)"
        }
        // float16 into ai.onnx.ml kernels is reported by the kernels themselves, at run time.
        if !isML, !Self.float16Capable.contains(opType), let position = inputTypes.firstIndex(of: .float16) {
            return "\(label): float16 input '\(inputNames[position])' (this runtime computes \(opType) in float32 or float64 only)"
        }
        if let declaring = kernel as? DeclaresElementTypes {
            for (position, type) in inputTypes.enumerated() {
                guard let type, let accepted = declaring.acceptedTypes(input: position), !accepted.contains(type) else {
                    continue
                }
                return "\(label): \(type) input '\(inputNames[position])' (\(opType) computes on \(accepted.sortedNames) only)"
            }
            if let alike = declaring.alikeInputs {
                let known = alike.filter { $0 < inputTypes.count && inputTypes[$0] != nil }
                if let first = known.first, let other = known.first(where: { inputTypes[$0] != inputTypes[first] }) {
                    return "\(label): \(inputTypes[first]!) input '\(inputNames[first])' and \(inputTypes[other]!) input "
                        + "'\(inputNames[other])' (\(opType) takes them of one type)"
                }
            }
        }
        let produced = outputTypes
            ?? (isML ? Self.mlOutputTypes(opType, inputTypes, attributes) : Self.outputTypes(opType, inputTypes, attributes))
        for (index, type) in zip(outputs, produced) { if let type { types[index] = type } }
        return nil
    }

    /// What a default-domain node gives: output 0 by the rules above, and a second output where a string
    /// operator has one.
    private static func outputTypes(_ opType: String, _ inputTypes: [ElementType?], _ attributes: NodeAttributes) -> [ElementType?] {
        let first = inputTypes.first ?? nil
        // A type attribute; 0 (ONNX's "undefined") and unknown numbers leave the type unknown.
        func attributeType(_ name: String) -> ElementType? {
            attributes.peekInt(name).flatMap { ElementType(rawValue: Int32(clamping: $0)) }
        }
        if int64Outputs.contains(opType) { return [.int64] }
        if boolOutputs.contains(opType) { return [.bool] }
        switch opType {
        case "Cast": return [attributeType("to")]
        case "CastLike", "Where": return [inputTypes.count > 1 ? inputTypes[1] : nil]
        case "OneHot": return [inputTypes.count > 2 ? inputTypes[2] : nil]
        case "EyeLike": return [attributeType("dtype") ?? first]
        case "ConstantOfShape", "Constant": return [nil]
        case "StringNormalizer", "StringConcat": return [.string]
        case "StringSplit": return [.string, .int64]
        case "DequantizeLinear": return [inputTypes.count > 1 ? inputTypes[1] : nil]  // the scale's type
        case "QuantizeLinear": return [(inputTypes.count > 2 ? inputTypes[2] : nil) ?? attributeType("output_dtype") ?? .uint8]
        case "DynamicQuantizeLinear": return [.uint8, .float32, .uint8]
        case "MatMulInteger", "ConvInteger": return [.int32]
        case "QLinearMatMul", "QLinearConv": return [(inputTypes.count > 7 ? inputTypes[7] : nil) ?? .uint8]
        case "MelWeightMatrix", "HannWindow", "HammingWindow", "BlackmanWindow":
            return [attributeType("output_datatype") ?? .float32]
        case "TfIdfVectorizer": return [.float32]
        default: return [first]
        }
    }

    /// What an `ai.onnx.ml` node gives, where it matters for strings: encoders by their attributes, classifiers a
    /// label (string or int64) and float32 scores; nil (unknown) elsewhere.
    private static func mlOutputTypes(_ opType: String, _ inputTypes: [ElementType?], _ attributes: NodeAttributes) -> [ElementType?] {
        switch opType {
        case "ArrayFeatureExtractor": return [inputTypes.first ?? nil]
        case "CategoryMapper": return [(inputTypes.first ?? nil).map { $0 == .string ? .int64 : .string }]
        case "OneHotEncoder": return [.float32]
        case "LabelEncoder":
            if attributes.has("values_strings") { return [.string] }
            if attributes.has("values_int64s") { return [.int64] }
            if attributes.has("values_floats") { return [.float32] }
            return [nil]
        case "TreeEnsembleClassifier", "LinearClassifier", "SVMClassifier":
            return [attributes.has("classlabels_strings") ? .string : .int64, .float32]
        default: return [nil]
        }
    }
}
