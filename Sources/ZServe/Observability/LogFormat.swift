import Logging

/// How the server's logs are written to standard error: `text` for people, `json` (one object per line) for
/// log shippers.
public enum LogFormat: String, CaseIterable, Sendable {
    case text, json

    /// Makes every `Logger` of the process write in this format at `level` and above. Call once, before the
    /// first logger is made (swift-log allows one bootstrap per process).
    public func bootstrap(level: Logger.Level) {
        switch self {
        case .text:
            LoggingSystem.bootstrap { label in
                var handler = StreamLogHandler.standardError(label: label)
                handler.logLevel = level
                return handler
            }
        case .json:
            LoggingSystem.bootstrap { label in JSONLogHandler(label: label, level: level) }
        }
    }
}
