import Foundation

/// A task's evaluation: the model's metrics and each baseline's, on one window, printable as a table and as JSON.
public struct EvaluationReport: Sendable {
    /// One row: a name (the model or a baseline) and its metrics in `metricNames` order.
    public struct Row: Sendable {
        public var name: String
        public var values: [String: Double]
    }

    public var task: String
    /// The metric names, in display order.
    public var metricNames: [String]
    /// The metric that decides whether a model is better, and its direction.
    public var primaryMetric: String
    public var higherIsBetter: Bool
    /// The evaluation window, `first..last` inclusive.
    public var window: String
    /// The model first, then the baselines.
    public var rows: [Row]

    /// The model's primary metric.
    public var primaryValue: Double { rows.first?.values[primaryMetric] ?? .nan }

    /// Whether `candidate` beats `reference` on the primary metric (strictly).
    public func isBetter(_ candidate: Double, than reference: Double) -> Bool {
        higherIsBetter ? candidate > reference : candidate < reference
    }

    /// A fixed-width table: one row per model/baseline, one column per metric.
    public func table() -> String {
        let nameWidth = max(12, rows.map(\.name.count).max() ?? 0)
        func pad(_ text: String, _ width: Int) -> String { text + String(repeating: " ", count: max(0, width - text.count)) }
        var lines = ["\(task), evaluated on \(window)",
                     pad("", nameWidth) + metricNames.map { "  " + pad($0, 18) }.joined()]
        for row in rows {
            lines.append(pad(row.name, nameWidth) + metricNames.map { name in
                let value = row.values[name] ?? .nan
                let text = !value.isFinite ? "n/a"
                    : value == value.rounded() && (abs(value) >= 1 || value == 0) ? String(Int(value)) : String(format: "%.4f", value)
                return "  " + pad(text, 18)
            }.joined())
        }
        return lines.joined(separator: "\n")
    }

    /// Every measurable metric of every row, keyed `row.metric`, for the ONNX metadata and push metadata.
    public var flatMetrics: [String: Double] {
        var flat: [String: Double] = [:]
        for row in rows { for (name, value) in row.values where value.isFinite { flat["\(row.name).\(name)"] = value } }
        return flat
    }

    /// The report as a JSON object: task, window, primary metric, and one object per row (null: not measurable).
    public func jsonObject() -> [String: Any] {
        var object: [String: Any] = ["task": task, "window": window, "primary_metric": primaryMetric]
        for row in rows {
            object[row.name] = row.values.mapValues { $0.isFinite ? $0 as Any : NSNull() }
        }
        return object
    }
}
