import Foundation

/// The shop's transaction log in time order, read from the committed `.xz` file, a CSV file or a directory of day files.
///
/// Columns are the UCI Online Retail ones: `InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,
/// Country`. Quirks are resolved while reading (see `LoadReport`): duplicated lines, stock and bad-debt adjustments
/// are dropped and counted; guest lines are kept with customer -1; `17850.0`-style ids are read as integers. Anything
/// that cannot be read unambiguously (a missing column, a number that is not one, an impossible date, a non-integral
/// CustomerID, a cancellation with a positive quantity, a line earlier than the one before) throws `LogError` naming
/// the file and line. Immutable after loading; safe to share between threads.
public struct TransactionLog: Sendable {
    public static let columns = ["InvoiceNo", "StockCode", "Description", "Quantity", "InvoiceDate", "UnitPrice",
                                 "CustomerID", "Country"]

    public private(set) var transactions: [Transaction] = []
    public private(set) var stockCodes: [String] = []
    public private(set) var countries: [String] = []
    public private(set) var invoices: [String] = []
    public private(set) var report = LoadReport()

    private var stockIndex: [String: Int32] = [:]
    private var countryIndex: [String: Int16] = [:]
    private var invoiceIndex: [String: Int32] = [:]

    /// Reads `path`: an `.xz` file, a CSV file, or a directory holding `*.csv` day files (directly or in `by-day/`).
    ///
    /// - Parameter lastDay: stop after this day (the log must be in time order, which is checked anyway).
    /// - Throws: `LogError` with the file and line of the first problem.
    public static func load(from path: String, through lastDay: Day? = nil) throws -> TransactionLog {
        var log = TransactionLog()
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw LogError(file: path, line: 0, "no such file or directory")
        }
        var files = [path]
        if isDirectory.boolValue {
            let byDay = (path as NSString).appendingPathComponent("by-day")
            let folder = FileManager.default.fileExists(atPath: byDay) ? byDay : path
            let names = try FileManager.default.contentsOfDirectory(atPath: folder)
                .filter { $0.hasSuffix(".csv") || $0.hasSuffix(".csv.xz") }.sorted()
            guard !names.isEmpty else { throw LogError(file: path, line: 0, "no .csv or .csv.xz files in this directory") }
            files = names.map { (folder as NSString).appendingPathComponent($0) }
        }
        var previous: (day: Day, minute: Int16)?
        for file in files {
            guard let data = FileManager.default.contents(atPath: file) else {
                throw LogError(file: file, line: 0, "cannot read the file")
            }
            let bytes = file.hasSuffix(".xz") ? try XZDecoder.decompress(data, file: file) : [UInt8](data)
            let finished = try log.read(bytes, file: file, through: lastDay, previous: &previous)
            if finished { break }
        }
        return log
    }

    /// Parses a CSV text (header line first) as if read from `file`; for tests and for callers holding bytes.
    public static func parse(_ text: String, file: String = "<memory>", through lastDay: Day? = nil) throws -> TransactionLog {
        var log = TransactionLog()
        var previous: (day: Day, minute: Int16)?
        _ = try log.read(Array(text.utf8), file: file, through: lastDay, previous: &previous)
        return log
    }

    /// The first and last day with a kept line; nil for an empty log.
    public var dayRange: ClosedRange<Day>? {
        guard let first = transactions.first?.day, let last = transactions.last?.day else { return nil }
        return first...last
    }

    /// Index of the first transaction on or after `day` (binary search; the log is in time order).
    public func firstIndex(onOrAfter day: Day) -> Int {
        var low = 0, high = transactions.count
        while low < high {
            let mid = (low + high) / 2
            if transactions[mid].day < day { low = mid + 1 } else { high = mid }
        }
        return low
    }

    /// Whether a stock code is a product (starts with a digit) rather than postage, fees or manual lines
    /// (`POST`, `DOT`, `M`, `BANK CHARGES`, `AMAZONFEE`, …), which the recommender leaves out.
    public func isProduct(_ item: Int32) -> Bool {
        guard let first = stockCodes[Int(item)].utf8.first else { return false }
        return first >= 48 && first <= 57
    }

    // MARK: - Reading

    /// Reads one file's bytes; returns true when `lastDay` was passed (nothing further needs reading).
    private mutating func read(
        _ bytes: [UInt8], file: String, through lastDay: Day?, previous: inout (day: Day, minute: Int16)?
    ) throws -> Bool {
        let name = (file as NSString).lastPathComponent
        var seenToday = Set<[UInt8]>()
        var seenDay: Day?
        return try bytes.withUnsafeBufferPointer { buffer -> Bool in
            var start = 0, lineNumber = 0
            while start < buffer.count {
                var end = start
                while end < buffer.count, buffer[end] != 10 { end += 1 }
                lineNumber += 1
                var stop = end
                if stop > start, buffer[stop - 1] == 13 { stop -= 1 }  // CRLF
                let line = UnsafeBufferPointer(rebasing: buffer[start..<stop])
                start = end + 1
                if lineNumber == 1 {
                    try checkHeader(line, file: name)
                    continue
                }
                if line.isEmpty { continue }
                report.lines += 1
                guard let fields = CSVRecord.fields(line) else {
                    throw LogError(file: name, line: lineNumber, "unterminated quoted field")
                }
                guard fields.count == 8 else {
                    throw LogError(file: name, line: lineNumber, "expected 8 columns, found \(fields.count)")
                }
                let (day, minute) = try parseDate(fields[4], file: name, line: lineNumber)
                if let lastDay, day > lastDay {
                    report.lines -= 1
                    report.skippedAfterRange += 1
                    return true
                }
                if let previous, (day, minute) < (previous.day, previous.minute) {
                    throw LogError(file: name, line: lineNumber,
                                   "InvoiceDate \(fields[4]) is earlier than the line before (\(previous.day)); the log must be in time order")
                }
                previous = (day, minute)
                if day != seenDay {
                    seenDay = day
                    seenToday.removeAll(keepingCapacity: true)
                }
                if !seenToday.insert(Array(line)).inserted {
                    report.duplicates += 1
                    continue
                }
                try add(fields, day: day, minute: minute, file: name, line: lineNumber)
            }
            return false
        }
    }

    private func checkHeader(_ line: UnsafeBufferPointer<UInt8>, file: String) throws {
        var text = String(decoding: line, as: UTF8.self)
        if text.hasPrefix("\u{FEFF}") { text.removeFirst() }
        let header = text.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        guard header == Self.columns else {
            throw LogError(file: file, line: 1, "expected the header \(Self.columns.joined(separator: ",")), found \(text)")
        }
    }

    private func parseDate(_ text: String, file: String, line: Int) throws -> (Day, Int16) {
        // YYYY-MM-DD HH:MM[:SS]
        let utf8 = Array(text.utf8)
        guard utf8.count >= 16, let day = Day(text.prefix(10)), utf8[10] == UInt8(ascii: " "), utf8[13] == UInt8(ascii: ":"),
              let hour = Int(String(decoding: utf8[11..<13], as: UTF8.self)),
              let minute = Int(String(decoding: utf8[14..<16], as: UTF8.self)), hour < 24, minute < 60,
              utf8.count == 16 || (utf8.count == 19 && utf8[16] == UInt8(ascii: ":")) else {
            throw LogError(file: file, line: line, "InvoiceDate '\(text)' is not YYYY-MM-DD HH:MM:SS")
        }
        return (day, Int16(hour * 60 + minute))
    }

    private mutating func add(_ fields: [String], day: Day, minute: Int16, file: String, line: Int) throws {
        let invoice = fields[0], stockCode = fields[1]
        guard !invoice.isEmpty else { throw LogError(file: file, line: line, "InvoiceNo is empty") }
        guard !stockCode.isEmpty else { throw LogError(file: file, line: line, "StockCode is empty") }
        guard let quantity = Int32(fields[3]) else {
            throw LogError(file: file, line: line, "Quantity '\(fields[3])' is not an integer")
        }
        guard let price = Double(fields[5]), price.isFinite else {
            throw LogError(file: file, line: line, "UnitPrice '\(fields[5])' is not a number")
        }
        var customer: Int32 = -1
        if !fields[6].isEmpty {
            guard let value = Double(fields[6]), value.isFinite, value == value.rounded(), value > 0, value < 2e9 else {
                throw LogError(file: file, line: line, "CustomerID '\(fields[6])' is not a positive whole number")
            }
            customer = Int32(value)
        }
        let isCancellation = invoice.hasPrefix("C")
        if invoice.hasPrefix("A") {
            report.adjustments += 1
            return
        }
        if isCancellation, quantity >= 0 {
            throw LogError(file: file, line: line, "cancellation \(invoice) has a non-negative Quantity \(quantity)")
        }
        if (!isCancellation && quantity <= 0) || price <= 0 {
            report.nonPositive += 1
            return
        }
        if isCancellation { report.cancellations += 1 } else { report.sales += 1 }
        if customer < 0 { report.guestLines += 1 }
        transactions.append(Transaction(
            invoice: Self.intern(invoice, &invoices, &invoiceIndex), isCancellation: isCancellation,
            item: Self.intern(stockCode, &stockCodes, &stockIndex), quantity: quantity, day: day, minute: minute,
            unitPrice: price, customer: customer, country: Self.intern(fields[7], &countries, &countryIndex)))
    }

    private static func intern<Index: FixedWidthInteger>(_ text: String, _ table: inout [String], _ index: inout [String: Index]) -> Index {
        if let known = index[text] { return known }
        let next = Index(table.count)
        table.append(text)
        index[text] = next
        return next
    }
}
