import ArgumentParser
import Foundation
import Trainer

/// Helpers shared by the subcommands: loading the log with errors a user can act on.
enum TrainerRun {
    /// Loads the log; a `LogError` ends the command with `Error: file:line: message` and a non-zero exit.
    static func loadLog(_ path: String, through lastDay: Day?) throws -> TransactionLog {
        do {
            let log = try TransactionLog.load(from: path, through: lastDay)
            FileHandle.standardError.write(Data("read \(path): \(log.report)\n".utf8))
            return log
        } catch let error as LogError {
            throw TrainerFailure(description: "\(error)")
        }
    }

    /// Trains `task` (a name already validated by `CommonOptions`).
    static func train(_ task: String, log: TransactionLog, options: TrainingOptions) throws -> TrainingOutcome {
        do {
            return try Training.run(TrainingTask(rawValue: task)!, log: log, options: options)
        } catch let error as TrainingError {
            throw TrainerFailure(description: "\(error)")
        }
    }

    /// One line of JSON with sorted keys.
    static func json(_ object: [String: Any]) -> String {
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data("{}".utf8)
        return String(decoding: data, as: UTF8.self)
    }
}

/// A failure that ends a command with its message (no usage text: the arguments were fine, the data was not).
struct TrainerFailure: Error, CustomStringConvertible {
    let description: String
}
