/// One order line of the log after its quirks are resolved: a sale, or a cancellation of one.
///
/// Strings are interned in the owning `TransactionLog` (`stockCodes`, `countries`, `invoices`); the fields here are
/// indexes into those tables, so a transaction is a small value.
public struct Transaction: Sendable, Equatable {
    /// Index into `TransactionLog.invoices`.
    public var invoice: Int32
    /// The invoice number starts with `C`: quantity is negative and undoes an earlier sale.
    public var isCancellation: Bool
    /// Index into `TransactionLog.stockCodes`.
    public var item: Int32
    /// Units; positive for sales, negative for cancellations.
    public var quantity: Int32
    public var day: Day
    /// Minutes after midnight of the invoice time.
    public var minute: Int16
    /// Pounds sterling per unit; always positive.
    public var unitPrice: Double
    /// The CustomerID, or -1 for a guest checkout (no CustomerID).
    public var customer: Int32
    /// Index into `TransactionLog.countries`.
    public var country: Int16

    /// The line has a CustomerID.
    public var hasCustomer: Bool { customer >= 0 }
}
