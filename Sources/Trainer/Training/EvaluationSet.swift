/// Feature rows of an evaluation window and how to turn a model's predictions on them into its primary metric.
///
/// Lets any model of a task (a local file or a served version) be scored on the same window.
public struct EvaluationSet {
    /// Row-major features, `width` per row.
    public var rows: [Float]
    public var width: Int
    /// The output whose values `score` takes.
    public var output: String
    /// The primary metric of one prediction per row.
    public var score: ([Float]) -> Double

    public var count: Int { width > 0 ? rows.count / width : 0 }
}
