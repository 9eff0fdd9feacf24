import ArgumentParser
import Foundation
import Inference
import Trainer
import ZServeClient

/// `zserve-trainer price-curve`: expected units and revenue of an item at a range of prices, from a demand model.
struct PriceCurveCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "price-curve",
        abstract: "Sweep an item's price through a demand model (a file, or a served model) and print units and revenue.")

    @Option(help: "The transaction log the item's and customer's statistics come from.")
    var data = "Data/online-retail/online-retail.csv.xz"

    @Option(help: "A demand model file (from `train --task demand`).")
    var model: String?

    @Option(help: "Instead of --model: a ZServe frontend serving the demand model...")
    var endpoint: String?

    @Option(help: "...under this name.")
    var name = "demand"

    @Option(help: "The item's StockCode.")
    var item: String

    @Option(help: "A CustomerID (default: a guest order).")
    var customer: Int32?

    @Option(help: "Lowest and highest price as a fraction of the item's usual price.")
    var range: [Double] = [0.5, 1.5]

    @Option(help: "Number of prices.")
    var steps = 11

    @Option(help: "Lines in the order (basket size feature).")
    var basketLines = 20

    func run() throws {
        guard range.count == 2, range[0] > 0, range[1] >= range[0], steps >= 2 else {
            throw ValidationError("--range takes two positive factors (low ≤ high) and --steps at least 2")
        }
        guard (model == nil) != (endpoint == nil) else { throw ValidationError("give either --model or --endpoint") }
        let log = try TrainerRun.loadLog(data, through: nil)
        let factors = (0..<steps).map { range[0] + (range[1] - range[0]) * Double($0) / Double(steps - 1) }
        let sweep: (usual: Double, prices: [Double], rows: [Float])
        do {
            sweep = try PriceCurve.rows(log: log, stockCode: item, customer: customer, factors: factors, basketLines: basketLines)
        } catch let failure as PriceCurve.Failure {
            throw TrainerFailure(description: "\(failure)")
        }
        let width = PriceCurve.featureWidth
        let units: [Float]
        if let model {
            let loaded = try Model(contentsOf: URL(fileURLWithPath: model))
            guard let position = loaded.outputs.firstIndex(where: { $0.name == "units" }) else {
                throw TrainerFailure(description: "\(model) has no output 'units': not a demand model")
            }
            let session = loaded.makeSession()
            try session.setInput(0, Tensor(float32: sweep.rows, shape: [sweep.prices.count, width]))
            units = try session.run()[position].array(of: Float.self)
        } else {
            let client = try Client(endpoint: endpoint!)
            let response = try client.predict(.with {
                $0.model = .with { $0.name = name }
                $0.inputs = [.with {
                    $0.name = "features"
                    $0.dtype = .float32
                    $0.shape = [Int64(sweep.prices.count), Int64(width)]
                    $0.rawData = sweep.rows.withUnsafeBytes { Data($0) }
                }]
                $0.outputNames = ["units"]
            })
            guard let tensor = response.outputs.first(where: { $0.name == "units" }) else {
                throw TrainerFailure(description: "the served model \(name) has no output 'units'")
            }
            units = tensor.rawData.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
        }
        print(String(format: "%@ (usual price %.2f GBP)%@", item, sweep.usual, customer.map { ", customer \($0)" } ?? ", guest order"))
        print("price_gbp  expected_units  expected_revenue_gbp")
        var best = (price: 0.0, revenue: -1.0)
        for (price, unit) in zip(sweep.prices, units) {
            let revenue = price * Double(unit)
            if revenue > best.revenue { best = (price, revenue) }
            print(String(format: "%9.2f  %14.2f  %20.2f", price, unit, revenue))
        }
        print(TrainerRun.json(["item": item, "usual_price": sweep.usual, "best_price": best.price, "best_revenue": best.revenue,
                               "prices": sweep.prices, "units": units.map(Double.init)]))
    }
}
