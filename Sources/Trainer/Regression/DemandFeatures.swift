import Foundation

/// Order-time features of each product sale line, from statistics of earlier days only (no target leakage).
///
/// The log is walked day by day: a day's lines get features from the running statistics of the days before it,
/// then the day is added to them. Target: log(1 + quantity).
struct DemandFeatures {
    static let names = [
        "log_price", "log_price_vs_item_usual", "item_mean_log1p_qty", "item_log1p_lines", "customer_mean_log1p_qty",
        "customer_log1p_lines", "is_guest", "customer_item_mean_log1p_qty", "customer_item_log1p_lines", "is_uk",
        "hour_of_day_over_24", "log1p_invoice_lines",
        "weekday_mon", "weekday_tue", "weekday_wed", "weekday_thu", "weekday_fri", "weekday_sat", "weekday_sun",
    ]
    static var width: Int { names.count }

    struct Running {
        var lines = 0.0, sumTarget = 0.0, sumLogPrice = 0.0
        var meanTarget: Double { sumTarget / lines }
        mutating func add(target: Double, logPrice: Double) {
            lines += 1
            sumTarget += target
            sumLogPrice += logPrice
        }
    }

    /// Rows (row-major), targets, item of each row and day of each row, for every product sale line in `days`.
    var rows: [Float] = []
    var targets: [Float] = []
    var items: [Int32] = []
    var days: [Day] = []

    private var global = Running()
    private var byItem: [Int32: Running] = [:]
    private var byCustomer: [Int32: Running] = [:]
    private var byPair: [Int64: Running] = [:]

    /// Features for every product sale line of `log` through `end`; statistics start from the log's first day.
    init(_ log: TransactionLog, through end: Day) {
        let uk = log.countries.firstIndex(of: "United Kingdom").map(Int16.init) ?? -1
        var invoiceLines: [Int32: Int] = [:]
        let stop = log.firstIndex(onOrAfter: end + 1)
        for index in 0..<stop where !log.transactions[index].isCancellation { invoiceLines[log.transactions[index].invoice, default: 0] += 1 }
        var index = 0
        while index < stop {
            let day = log.transactions[index].day
            var next = index
            while next < stop, log.transactions[next].day == day { next += 1 }
            let dayLines = (index..<next).map { log.transactions[$0] }.filter { !$0.isCancellation && log.isProduct($0.item) }
            for line in dayLines {
                rows += features(line, day: day, ukCountry: uk, invoiceLines: invoiceLines[line.invoice] ?? 1)
                targets.append(Float(log1p(Double(line.quantity))))
                items.append(line.item)
                days.append(day)
            }
            for line in dayLines {
                let target = log1p(Double(line.quantity)), logPrice = Foundation.log(line.unitPrice)
                global.add(target: target, logPrice: logPrice)
                byItem[line.item, default: Running()].add(target: target, logPrice: logPrice)
                if line.hasCustomer {
                    byCustomer[line.customer, default: Running()].add(target: target, logPrice: logPrice)
                    byPair[Self.pair(line.customer, line.item), default: Running()].add(target: target, logPrice: logPrice)
                }
            }
            index = next
        }
    }

    /// A row for a hypothetical order line (price-curve) from the statistics of every day read.
    func row(item: Int32, customer: Int32, price: Double, day: Day, minute: Int16, isUK: Bool, invoiceLines: Int) -> [Float] {
        let line = Transaction(invoice: 0, isCancellation: false, item: item, quantity: 1, day: day, minute: minute,
                               unitPrice: price, customer: customer, country: isUK ? 0 : 1)
        return features(line, day: day, ukCountry: 0, invoiceLines: invoiceLines)
    }

    /// The item's usual (geometric mean) price so far, if it was sold.
    func usualPrice(of item: Int32) -> Double? {
        byItem[item].map { exp($0.sumLogPrice / $0.lines) }
    }

    private func features(_ line: Transaction, day: Day, ukCountry: Int16, invoiceLines: Int) -> [Float] {
        let globalMean = global.lines > 0 ? global.meanTarget : 1.5
        let logPrice = log(line.unitPrice)
        let item = byItem[line.item]
        let customer = line.hasCustomer ? byCustomer[line.customer] : nil
        let pair = line.hasCustomer ? byPair[Self.pair(line.customer, line.item)] : nil
        let itemMean = item?.meanTarget ?? globalMean
        let customerMean = customer?.meanTarget ?? globalMean
        var row: [Float] = [
            Float(logPrice),
            Float(item.map { logPrice - $0.sumLogPrice / $0.lines } ?? 0),
            Float(itemMean),
            Float(log1p(item?.lines ?? 0)),
            Float(customerMean),
            Float(log1p(customer?.lines ?? 0)),
            line.hasCustomer ? 0 : 1,
            Float(pair?.meanTarget ?? customerMean),
            Float(log1p(pair?.lines ?? 0)),
            line.country == ukCountry ? 1 : 0,
            Float(line.minute) / (24 * 60),
            Float(log1p(Double(invoiceLines))),
        ]
        row += (0..<7).map { $0 == day.weekday ? 1 : 0 }
        return row
    }

    private static func pair(_ customer: Int32, _ item: Int32) -> Int64 { Int64(customer) << 32 | Int64(item) }
}
