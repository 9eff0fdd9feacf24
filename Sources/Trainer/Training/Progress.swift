import Foundation

/// Training progress on stderr: one line per report, or a bar redrawn in place when stderr is a terminal.
///
/// Not thread-safe; one per training loop.
public struct Progress {
    private let label: String
    private let total: Int
    private let start = Date()
    private let isTerminal = isatty(2) == 1
    public var quiet = false

    public init(_ label: String, total: Int) {
        self.label = label
        self.total = max(total, 1)
    }

    /// Reports step `step` of `total` with the loss and the examples processed so far.
    public func report(step: Int, loss: Double, examples: Int) {
        guard !quiet else { return }
        let seconds = max(Date().timeIntervalSince(start), 1e-6)
        let rate = Double(examples) / seconds
        let text = String(format: "%@ %d/%d  loss %.5f  %.0f examples/s", label, step, total, loss, rate)
        if isTerminal {
            let width = 24, filled = width * step / total
            let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
            FileHandle.standardError.write(Data("\r[\(bar)] \(text)\(step == total ? "\n" : "")".utf8))
        } else {
            FileHandle.standardError.write(Data("\(text)\n".utf8))
        }
    }

    /// Writes one line of information to stderr.
    public static func note(_ text: String) {
        FileHandle.standardError.write(Data("\(text)\n".utf8))
    }
}
