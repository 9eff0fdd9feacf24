/// The log holds too little for a task.
public enum TrainingError: Error, CustomStringConvertible {
    case noData(String)
    public var description: String {
        switch self { case .noData(let message): "not enough data: \(message)" }
    }
}
