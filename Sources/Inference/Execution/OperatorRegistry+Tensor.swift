extension OperatorRegistry {
    /// Indexing, reduction, comparison, shape and element-wise math operators (recommendation and Transformer models).
    mutating func registerTensorOperators() {
        register("Gather", GatherKernel.init)
        register("GatherElements", GatherElementsKernel.init)
        register("GatherND", GatherNDKernel.init)
        register("ScatterElements", ScatterElementsKernel.init)
        register("Scatter", ScatterElementsKernel.init)
        register("ScatterND", ScatterNDKernel.init)
        register("TensorScatter", TensorScatterKernel.init)
        register("TopK", TopKKernel.init)
        for op in VariadicOperator.allCases {
            register(op.opType) { try VariadicKernel(op, $0) }
        }
        for op in ReduceOperator.allCases {
            register(op.opType) { try ReduceKernel(op, $0) }
        }
        register("ArgMax") { try ArgExtremumKernel(largest: true, $0) }
        register("ArgMin") { try ArgExtremumKernel(largest: false, $0) }
        for op in ComparisonOperator.allCases {
            register(op.opType) { try ComparisonKernel(op, $0) }
        }
        register("Where", WhereKernel.init)
        register("Cast", CastKernel.init)
        register("CastLike", CastLikeKernel.init)
        register("Size", SizeKernel.init)
        register("ConstantOfShape", ConstantOfShapeKernel.init)
        for op in LogicalOperator.allCases {
            register(op.rawValue) { try LogicalKernel(op, $0) }
        }
        register("Not", NotKernel.init)
        register("Clip", ClipKernel.init)
        register("Unsqueeze", UnsqueezeKernel.init)
        register("Squeeze", SqueezeKernel.init)
        register("Shape", ShapeKernel.init)
        register("Slice", SliceKernel.init)
        register("Expand", ExpandKernel.init)
        register("Tile", TileKernel.init)
        register("Transpose", TransposeKernel.init)
        register("Einsum", EinsumKernel.init)
        register("Det", DetKernel.init)
        register("Compress", CompressKernel.init)
        register("NonZero", NonZeroKernel.init)
        register("Unique", UniqueKernel.init)
        register("ReverseSequence", ReverseSequenceKernel.init)
        register("CenterCropPad", CenterCropPadKernel.init)
        register("LpNormalization", LpNormalizationKernel.init)
        register("MeanVarianceNormalization", MeanVarianceNormalizationKernel.init)
        for op in BitwiseOperator.allCases {
            register(op.rawValue) { try BitwiseKernel(op, $0) }
        }
        register("BitwiseNot") { try BitwiseKernel(nil, $0) }
        register("BitShift", BitShiftKernel.init)
        register("Pow", PowKernel.init)
        register("Pad", PadKernel.init)
        register("Split", SplitKernel.init)
        register("CumSum") { try CumulativeKernel(product: false, $0) }
        register("CumProd") { try CumulativeKernel(product: true, $0) }
        register("Trilu", TriluKernel.init)
        register("DepthToSpace") { try DepthSpaceKernel(toSpace: true, $0) }
        register("SpaceToDepth") { try DepthSpaceKernel(toSpace: false, $0) }
        register("IsNaN") { try FloatClassKernel(nan: true, $0) }
        register("IsInf") { try FloatClassKernel(nan: false, $0) }
        for op in UnaryOperator.allCases {
            register(op.opType) { try UnaryKernel(op, $0) }
        }
    }
}
