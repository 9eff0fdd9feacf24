import ArgumentParser
import Foundation
import Trainer

/// `zserve-trainer inspect`: reads a log and reports what was kept and dropped, or the first bad line.
struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "inspect", abstract: "Read a transaction log and report its quirks.")

    @Option(help: "The log: an .xz or CSV file, or a directory of day files.")
    var data: String

    func run() throws {
        let start = Date()
        let log = try TrainerRun.loadLog(data, through: nil)
        let range = log.dayRange.map { "\($0.lowerBound) … \($0.upperBound)" } ?? "empty"
        print("\(data): \(range), \(log.stockCodes.count) stock codes, read in \(String(format: "%.2f", Date().timeIntervalSince(start))) s")
        print(log.report)
    }
}
