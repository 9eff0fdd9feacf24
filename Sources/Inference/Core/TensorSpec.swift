/// The declared type of a model input or output: name, element type and shape, nil for a dimension of any size.
public struct TensorSpec: Sendable, Equatable {
    public let name: String
    public let elementType: ElementType
    /// nil when the model does not fix the dimension (a `dim_param` such as "batch", or no value).
    public let shape: [Int?]?

    public init(name: String, elementType: ElementType, shape: [Int?]?) {
        self.name = name
        self.elementType = elementType
        self.shape = shape
    }

    /// Checks that a tensor of `elementType` and `shape` fits this spec.
    ///
    /// - Throws: `InferenceError.invalidInput` naming the input and both types or shapes.
    public func validate(elementType given: ElementType, shape givenShape: [Int]) throws(InferenceError) {
        guard given == elementType else {
            throw InferenceError.invalidInput("input '\(name)' must be \(elementType), got \(given)")
        }
        guard let shape else { return }
        let fits = shape.count == givenShape.count
            && zip(shape, givenShape).allSatisfy { declared, actual in declared == nil || declared == actual }
        guard fits else {
            throw InferenceError.invalidInput(
                "input '\(name)' must have shape \(Self.describe(shape)), got \(givenShape)")
        }
    }

    /// A shape for messages: `[?, 8]`.
    public static func describe(_ shape: [Int?]) -> String {
        "[" + shape.map { $0.map(String.init) ?? "?" }.joined(separator: ", ") + "]"
    }
}
