extension OperatorRegistry {
    /// String operators: text in string tensors (`ElementType.string`).
    mutating func registerStringOperators() {
        register("StringConcat", StringConcatKernel.init)
        register("StringSplit", StringSplitKernel.init)
        register("StringNormalizer", StringNormalizerKernel.init)
        register("RegexFullMatch", RegexFullMatchKernel.init)
    }
}
