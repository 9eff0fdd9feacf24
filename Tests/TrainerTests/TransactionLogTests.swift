import Foundation
import Testing
@testable import Trainer

@Suite struct TransactionLogTests {
    static let header = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n"

    func parse(_ body: String) throws -> TransactionLog {
        try TransactionLog.parse(Self.header + body, file: "log.csv")
    }

    func error(_ body: String) -> LogError? {
        do {
            _ = try parse(body)
            return nil
        } catch let error as LogError {
            return error
        } catch {
            return nil
        }
    }

    @Test func quirksAreResolvedAndCounted() throws {
        let log = try parse(#"""
            536365,85123A,"WHITE HANGING HEART T-LIGHT HOLDER, ""LARGE""",6,2010-12-01 08:26:00,2.55,17850.0,United Kingdom
            536365,85123A,"WHITE HANGING HEART T-LIGHT HOLDER, ""LARGE""",6,2010-12-01 08:26:00,2.55,17850.0,United Kingdom
            C536379,D,Discount,-1,2010-12-01 09:41:00,27.5,14527.0,United Kingdom
            536414,22139,,56,2010-12-01 11:52:00,0.0,,United Kingdom
            536544,21773,DECORATIVE ROSE BATHROOM BOTTLE,1,2010-12-01 14:32:00,2.51,,United Kingdom
            536545,21774,BOTTLE,-3,2010-12-01 14:33:00,0.0,,United Kingdom
            A563185,B,Adjust bad debt,1,2010-12-02 14:50:00,-11062.06,,United Kingdom

            """#)
        #expect(log.report.lines == 7)
        #expect(log.report.duplicates == 1)
        #expect(log.report.nonPositive == 2)
        #expect(log.report.adjustments == 1)
        #expect(log.report.sales == 2)
        #expect(log.report.cancellations == 1)
        #expect(log.report.guestLines == 1)
        #expect(log.transactions.count == 3)
        let first = log.transactions[0]
        #expect(first.customer == 17850)
        #expect(log.stockCodes[Int(first.item)] == "85123A")
        #expect(first.minute == 8 * 60 + 26)
        #expect(first.day == Day("2010-12-01"))
        #expect(log.transactions[1].isCancellation && log.transactions[1].quantity == -1)
        #expect(!log.transactions[2].hasCustomer)
        #expect(log.isProduct(first.item) && !log.isProduct(log.transactions[1].item))
    }

    @Test func badLinesNameTheirLine() {
        #expect(error("536365,85123A,X,six,2010-12-01 08:26:00,2.55,17850.0,United Kingdom\n")
            == LogError(file: "log.csv", line: 2, "Quantity 'six' is not an integer"))
        #expect(error("1,2,3,4,2010-12-01 08:26:00,2.55,1.0,UK\n536365,85123A,X,6,2010-12-01 08:26:00,2.55\n")?.line == 3)
        #expect(error("536365,85123A,X,6,2010-12-01 08:26:00,2.55,17850.5,United Kingdom\n")?.message
            == "CustomerID '17850.5' is not a positive whole number")
        #expect(error("536365,85123A,X,6,2010-02-30 08:26:00,2.55,17850.0,United Kingdom\n")?.message
            == "InvoiceDate '2010-02-30 08:26:00' is not YYYY-MM-DD HH:MM:SS")
        #expect(error("536365,85123A,X,6,2010-12-01 08:26:00,£2,17850.0,United Kingdom\n")?.message
            == "UnitPrice '£2' is not a number")
        #expect(error("C536365,85123A,X,6,2010-12-01 08:26:00,2.55,17850.0,United Kingdom\n")?.message
            == "cancellation C536365 has a non-negative Quantity 6")
        #expect(error("536365,85123A,\"X,6,2010-12-01 08:26:00,2.55,17850.0,United Kingdom\n")?.message
            == "unterminated quoted field")
        #expect(error("""
            536365,85123A,X,6,2010-12-02 08:26:00,2.55,17850.0,United Kingdom
            536366,85123A,X,6,2010-12-01 08:26:00,2.55,17850.0,United Kingdom

            """)?.line == 3)
        #expect(error(",85123A,X,6,2010-12-01 08:26:00,2.55,17850.0,United Kingdom\n")?.message == "InvoiceNo is empty")
        do {
            _ = try TransactionLog.parse("Invoice,StockCode\n1,2\n", file: "x.csv")
            Issue.record("a wrong header was accepted")
        } catch let error as LogError {
            #expect(error.file == "x.csv" && error.line == 1)
        } catch {
            Issue.record("unexpected \(error)")
        }
    }

    @Test func missingOrCorruptFilesAreErrors() throws {
        #expect(throws: LogError.self) { try TransactionLog.load(from: "/nonexistent/log.csv.xz") }
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("trainer-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let corrupt = folder.appendingPathComponent("log.csv.xz")
        try Data("not xz at all".utf8).write(to: corrupt)
        #expect(throws: LogError.self) { try TransactionLog.load(from: corrupt.path) }
        // A directory of day files, like ../shared/data/online-retail/by-day.
        let days = folder.appendingPathComponent("by-day")
        try FileManager.default.createDirectory(at: days, withIntermediateDirectories: true)
        try Data((Self.header + "1,22139,X,2,2010-12-01 10:00:00,1.5,12.0,France\n").utf8)
            .write(to: days.appendingPathComponent("2010-12-01.csv"))
        try Data((Self.header + "2,22139,X,3,2010-12-02 10:00:00,1.5,12.0,France\n").utf8)
            .write(to: days.appendingPathComponent("2010-12-02.csv"))
        let log = try TransactionLog.load(from: folder.path)
        #expect(log.transactions.map(\.quantity) == [2, 3])
    }

    @Test func committedLogReadsThroughLiblzma() {
        let log = TestData.log
        #expect(log.dayRange == Day("2010-12-01")!...Day("2011-01-31")!)
        #expect(log.report.duplicates > 0 && log.report.cancellations > 0 && log.report.guestLines > 0)
        #expect(log.report.skippedAfterRange == 1)
        #expect(log.transactions.count == log.report.sales + log.report.cancellations)
        // The first line of the UCI data set.
        #expect(log.invoices[Int(log.transactions[0].invoice)] == "536365")
        #expect(log.stockCodes[Int(log.transactions[0].item)] == "85123A")
        #expect(log.firstIndex(onOrAfter: Day("2011-01-01")!) > 0)
    }

    @Test func daysRoundTrip() {
        #expect(Day("1970-01-01")?.number == 0)
        #expect(Day("2011-12-09")?.description == "2011-12-09")
        #expect(Day("2012-02-29") != nil && Day("2011-02-29") == nil)
        #expect(Day("2011-11-09")!.weekday == 2)  // a Wednesday
        #expect(Day("2011-12-09")! - Day("2011-11-09")! == 30)
    }
}
