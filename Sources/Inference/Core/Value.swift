/// What a graph value holds while a graph runs: a tensor (nearly every value), a sequence of tensors, or an optional
/// without element. An optional that holds an element is represented by the element itself.
///
/// Sequences and optionals live inside a graph (and its subgraphs) only: a served model's inputs and outputs are
/// tensors, which `ModelLoader` checks at load.
enum Value {
    case tensor(Tensor)
    case sequence(TensorSequence)
    /// An optional holding nothing (Optional without input, a model's absent optional value).
    case noElement

    /// The tensor, or nil for a sequence or an empty optional.
    var tensor: Tensor? {
        if case .tensor(let tensor) = self { return tensor }
        return nil
    }

    /// "a tensor", "a sequence", "an optional without element": for messages.
    var kindDescription: String {
        switch self {
        case .tensor: "a tensor"
        case .sequence: "a sequence"
        case .noElement: "an optional without element"
        }
    }
}

/// An ONNX sequence: tensors of one element type (their shapes may differ), in order.
///
/// A value type; the tensors are shared, never written once in a sequence (a session's pool hands out a block only
/// while nothing else references it).
struct TensorSequence {
    /// The element type every tensor has (an empty sequence keeps the one it was made with).
    let elementType: ElementType
    var tensors: [Tensor]

    /// A sequence of `tensors`, which must all be of `elementType`.
    init(elementType: ElementType, tensors: [Tensor] = []) throws(InferenceError) {
        for tensor in tensors where tensor.elementType != elementType {
            throw InferenceError.invalidInput("a sequence of \(elementType) cannot hold a \(tensor.elementType) tensor")
        }
        self.elementType = elementType
        self.tensors = tensors
    }

    /// The index of `position` (negative counts from the end: -1 is the last tensor), or an error naming the valid
    /// range. SequenceInsert may also name the end (`allowingEnd`, position = count), to append.
    func index(_ position: Int, allowingEnd: Bool = false) throws(InferenceError) -> Int {
        let count = tensors.count
        let last = allowingEnd ? count : count - 1
        guard position >= -count && position <= last else {
            throw InferenceError.invalidInput(
                "position \(position) is outside the sequence of \(count) tensors (valid: \(-count)...\(last))")
        }
        return position < 0 ? position + count : position
    }
}
