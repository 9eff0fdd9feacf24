/// What reading the log kept and what it set aside, by reason; printed on stderr so nothing is dropped silently.
public struct LoadReport: Sendable, Equatable, CustomStringConvertible {
    /// Data lines read (headers not counted).
    public var lines = 0
    /// Sales kept.
    public var sales = 0
    /// Cancellation lines kept (C invoices).
    public var cancellations = 0
    /// Kept lines (sales or cancellations) without a CustomerID.
    public var guestLines = 0
    /// Exact repeats of an earlier line of the same day, dropped.
    public var duplicates = 0
    /// Stock adjustments dropped: a non-C invoice with a quantity ≤ 0, or any line with a price ≤ 0.
    public var nonPositive = 0
    /// Bad-debt adjustments dropped (invoices starting with `A`).
    public var adjustments = 0
    /// Lines after the last day asked for, not read.
    public var skippedAfterRange = 0

    public var description: String {
        "\(lines) lines: \(sales) sales, \(cancellations) cancellations (\(guestLines) of these without CustomerID); "
            + "dropped \(duplicates) duplicates, \(nonPositive) with quantity or price ≤ 0, \(adjustments) bad-debt adjustments"
    }
}
