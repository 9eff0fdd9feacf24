/// Why the transaction log could not be read: a file and line, and what is wrong there.
///
/// `line` is 1-based (the header is line 1); 0 when the problem is the file as a whole (missing, unreadable).
public struct LogError: Error, CustomStringConvertible, Equatable {
    public let file: String
    public let line: Int
    public let message: String

    public init(file: String, line: Int, _ message: String) {
        self.file = file
        self.line = line
        self.message = message
    }

    /// `file:line: message`, the form compilers use, so editors can jump to it.
    public var description: String { line > 0 ? "\(file):\(line): \(message)" : "\(file): \(message)" }
}
