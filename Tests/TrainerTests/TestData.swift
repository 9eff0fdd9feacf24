import Foundation
import Trainer

/// The committed log, read once for every test that needs real data: its first weeks only, to stay fast.
enum TestData {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    static let logPath = root.appendingPathComponent("Data/online-retail/online-retail.csv.xz").path

    /// 2010-12-01 … 2011-01-31: about 9 weeks (≈ 60k lines).
    static let lastDay = Day("2011-01-31")!
    static let log: TransactionLog = {
        do { return try TransactionLog.load(from: logPath, through: lastDay) } catch { fatalError("\(error)") }
    }()
}
