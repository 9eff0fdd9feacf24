extension OperatorRegistry {
    /// String operators: text in string tensors (`ElementType.string`), and n-gram counts over string or integer
    /// tokens.
    mutating func registerStringOperators() {
        register("StringConcat", StringConcatKernel.init)
        register("StringSplit", StringSplitKernel.init)
        register("StringNormalizer", StringNormalizerKernel.init)
        register("RegexFullMatch", RegexFullMatchKernel.init)
        register("TfIdfVectorizer", TfIdfVectorizerKernel.init)
    }
}
