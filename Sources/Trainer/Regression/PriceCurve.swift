import Foundation

/// Expected units and revenue of one item over a sweep of prices, from a demand model: the price-optimisation use.
///
/// Feature rows are built like training rows, from every statistic in the log (the order is placed the day after
/// the log's last day, at noon); only the price changes from row to row.
public enum PriceCurve {
    public struct Point: Sendable {
        public var price: Double
        public var units: Double
        public var revenue: Double { price * units }
    }

    public enum Failure: Error, CustomStringConvertible {
        case unknownItem(String)
        case unknownCustomer(Int32)
        public var description: String {
            switch self {
            case .unknownItem(let code): "NOT_FOUND: stock code \(code) was never sold in the log"
            case .unknownCustomer(let id): "NOT_FOUND: CustomerID \(id) has no order in the log"
            }
        }
    }

    /// The row width a demand model takes.
    public static var featureWidth: Int { DemandFeatures.width }

    /// The usual price of `stockCode` and the feature rows for `factors` × that price.
    public static func rows(
        log: TransactionLog, stockCode: String, customer: Int32?, factors: [Double], basketLines: Int
    ) throws -> (usual: Double, prices: [Double], rows: [Float]) {
        guard let item = log.stockCodes.firstIndex(of: stockCode).map(Int32.init), let last = log.dayRange?.upperBound else {
            throw Failure.unknownItem(stockCode)
        }
        let data = DemandFeatures(log, through: last)
        guard let usual = data.usualPrice(of: item) else { throw Failure.unknownItem(stockCode) }
        var isUK = true
        if let customer {
            guard let line = log.transactions.last(where: { $0.customer == customer }) else { throw Failure.unknownCustomer(customer) }
            isUK = log.countries[Int(line.country)] == "United Kingdom"
        }
        let prices = factors.map { (usual * $0 * 100).rounded() / 100 }
        var rows: [Float] = []
        for price in prices {
            rows += data.row(item: item, customer: customer ?? -1, price: max(price, 0.01), day: last + 1, minute: 12 * 60,
                             isUK: isUK, invoiceLines: basketLines)
        }
        return (usual, prices, rows)
    }
}
