extension OperatorRegistry {
    /// If, Loop and Scan: nodes whose graph attributes are planned with the graph around them.
    mutating func registerControlFlowOperators() {
        register("If", IfKernel.init)
        register("Loop", LoopKernel.init)
        register("Scan", ScanKernel.init)
    }
}
