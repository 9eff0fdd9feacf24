/// Who bought which products before a day: per customer and item, the number of invoices and the last day.
///
/// Built from sales with a CustomerID of products (`TransactionLog.isProduct`); cancellations do not undo history
/// (the customer still chose the item). Also counts each product's sale lines (guests included) over the last 7 and
/// 30 days and in all, the popularity signals.
struct PurchaseHistory {
    struct Entry {
        var invoices: Int32
        var lastDay: Day
        var lastInvoice: Int32
    }

    let cutoff: Day
    /// CustomerID → item → entry.
    private(set) var customers: [Int32: [Int32: Entry]] = [:]
    /// Item → sale lines in the last 7 days, the last 30 days and in all before the cutoff.
    private(set) var popularity: [Int32: (week: Int, month: Int, all: Int)] = [:]

    /// The history of everything before `cutoff`.
    init(_ log: TransactionLog, before cutoff: Day) {
        self.cutoff = cutoff
        let end = log.firstIndex(onOrAfter: cutoff)
        for index in 0..<end {
            let line = log.transactions[index]
            guard !line.isCancellation, log.isProduct(line.item) else { continue }
            let age = cutoff - line.day
            var counts = popularity[line.item] ?? (0, 0, 0)
            counts.all += 1
            if age <= 30 { counts.month += 1 }
            if age <= 7 { counts.week += 1 }
            popularity[line.item] = counts
            guard line.hasCustomer else { continue }
            if var entry = customers[line.customer, default: [:]][line.item] {
                if entry.lastInvoice != line.invoice {
                    entry.invoices += 1
                    entry.lastInvoice = line.invoice
                }
                entry.lastDay = line.day
                customers[line.customer]![line.item] = entry
            } else {
                customers[line.customer, default: [:]][line.item] = Entry(invoices: 1, lastDay: line.day, lastInvoice: line.invoice)
            }
        }
    }

    /// The products each customer bought in `days` (sales with a CustomerID).
    static func purchases(_ log: TransactionLog, in days: Range<Day>) -> [Int32: Set<Int32>] {
        var bought: [Int32: Set<Int32>] = [:]
        for index in log.firstIndex(onOrAfter: days.lowerBound)..<log.firstIndex(onOrAfter: days.upperBound) {
            let line = log.transactions[index]
            guard !line.isCancellation, line.hasCustomer, log.isProduct(line.item) else { continue }
            bought[line.customer, default: []].insert(line.item)
        }
        return bought
    }

    /// Items ranked by sale lines in the 30 days before the cutoff, then in all, then by item index: recent popularity.
    func popularItems() -> [Int32] {
        popularity.keys.sorted { a, b in
            let pa = popularity[a]!, pb = popularity[b]!
            if pa.month != pb.month { return pa.month > pb.month }
            if pa.all != pb.all { return pa.all > pb.all }
            return a < b
        }
    }
}
