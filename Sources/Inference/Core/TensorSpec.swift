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

    /// Checks everything about a tensor given for this input before any memory is set aside for it: the shape is
    /// valid (no negative dimension, no overflowing element count), type and shape fit the spec, and `byteCount` is
    /// exactly shape × element size. The one check every input path uses (`Session.setInput`, the server's request
    /// validation).
    ///
    /// - Throws: `InferenceError.invalidInput` naming the input and what does not fit.
    public func validate(elementType given: ElementType, shape givenShape: [Int], byteCount: Int) throws(InferenceError) {
        do {
            try givenShape.validateShape()
        } catch {
            throw InferenceError.invalidInput("input '\(name)': \(error)")
        }
        try validate(elementType: given, shape: givenShape)
        guard given.hasRawBytes else {
            throw InferenceError.invalidInput("input '\(name)' is a string tensor: give its elements as strings, not bytes")
        }
        let needed = givenShape.elementCount * given.byteSize
        guard byteCount == needed else {
            throw InferenceError.invalidInput("input '\(name)' has \(byteCount) bytes; shape \(givenShape) of \(given) needs \(needed)")
        }
    }

    /// Checks a string tensor given for this input before its strings are made: the shape is valid, type and shape
    /// fit the spec, and `stringCount` is the shape's element count.
    ///
    /// - Throws: `InferenceError.invalidInput` naming the input and what does not fit.
    public func validate(elementType given: ElementType, shape givenShape: [Int], stringCount: Int) throws(InferenceError) {
        do {
            try givenShape.validateShape()
        } catch {
            throw InferenceError.invalidInput("input '\(name)': \(error)")
        }
        try validate(elementType: given, shape: givenShape)
        guard stringCount == givenShape.elementCount else {
            throw InferenceError.invalidInput("input '\(name)' has \(stringCount) strings; shape \(givenShape) needs \(givenShape.elementCount)")
        }
    }

    /// A shape for messages: `[?, 8]`.
    public static func describe(_ shape: [Int?]) -> String {
        "[" + shape.map { $0.map(String.init) ?? "?" }.joined(separator: ", ") + "]"
    }
}
