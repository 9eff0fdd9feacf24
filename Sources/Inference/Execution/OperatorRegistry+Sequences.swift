extension OperatorRegistry {
    /// Sequence and optional operators: values of a graph that are not tensors (`Value`).
    mutating func registerSequenceOperators() {
        register("SequenceEmpty", SequenceEmptyKernel.init)
        register("SequenceConstruct", SequenceConstructKernel.init)
        register("SequenceAt", SequenceAtKernel.init)
        register("SequenceInsert", SequenceInsertKernel.init)
        register("SequenceErase", SequenceEraseKernel.init)
        register("SequenceLength", SequenceLengthKernel.init)
        register("ConcatFromSequence", ConcatFromSequenceKernel.init)
        register("SplitToSequence", SplitToSequenceKernel.init)
        register("SequenceMap", SequenceMapKernel.init)
        register("Optional", OptionalKernel.init)
        register("OptionalHasElement", OptionalHasElementKernel.init)
        register("OptionalGetElement", OptionalGetElementKernel.init)
    }
}
