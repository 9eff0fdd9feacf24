import Foundation

/// Writes a `RecommenderModel` as a plain ONNX graph with the served signature.
///
/// Input `customer_index` int64 [N]; outputs `item_index` int64 [N, K] and `score` float [N, K], best first. An index
/// outside 0..<customers (a new customer, −1) reads the empty history row, so its answer is the items the popularity
/// channels rank first. Items bought before are scored by popularity plus the history channels, the others by
/// popularity plus the neighbour channel their history items give them (`ItemNeighbours`). metadata_props:
/// `customers` and `items` (JSON lists of CustomerID and StockCode in index order), `k`, `cutoff`, plus whatever the
/// caller adds (the evaluation metrics).
enum RecommenderGraph {
    static func export(_ model: RecommenderModel, metadata: [String: String]) throws -> Data {
        let customerCount = model.customers.count, itemCount = model.items.count, length = model.historyLength
        var graph = ONNXModelBuilder(
            name: "recommender",
            doc: "Top-\(model.k) items per customer: learned blend of the customer's purchase history (count, recency), the recent co-purchase neighbours of the items bought, and item popularity.")
        graph.input("customer_index", .int64, [nil], doc: "customer indexes (metadata 'customers'); out of range: popular items")
        graph.output("item_index", .int64, [nil, model.k], doc: "item indexes (metadata 'items'), best first")
        graph.output("score", .float, [nil, model.k], doc: "the items' scores, descending")

        // Out-of-range indexes read row `customerCount`, which holds no history.
        let zero = graph.constant("zero", int64s: [0], shape: [])
        let count = graph.constant("customer_count", int64s: [Int64(customerCount)], shape: [])
        let inRange = graph.node("And", [graph.node("GreaterOrEqual", ["customer_index", zero]),
                                         graph.node("Less", ["customer_index", count])])
        let row = graph.node("Where", [inRange, "customer_index", count])

        let rows = [customerCount + 1, length]
        graph.constant("history_items", int64s: model.historyItems, shape: rows)
        graph.constant("history_counts", floats: model.historyCounts, shape: rows)
        graph.constant("history_ages", floats: model.historyAges, shape: rows)
        let items = graph.node("Gather", ["history_items", row], ["axis": 0])
        let counts = graph.node("Gather", ["history_counts", row], ["axis": 0])
        let ages = graph.node("Gather", ["history_ages", row], ["axis": 0])

        // Channels [N, H, 5]: log(1 + n), exp(-a/14), exp(-a/60), exp(-a/365), bought (1; 0 on padding entries).
        let lastAxis = graph.constant("axis_2", int64s: [2], shape: [1])
        let zeroFloat = graph.constant("zero_float", floats: [0], shape: [])
        let one = graph.constant("one", floats: [1], shape: [])
        let bought = graph.node("Cast", [graph.node("Greater", [counts, zeroFloat])], ["to": 1])
        var channels = [graph.node("Unsqueeze", [graph.node("Log", [graph.node("Add", [counts, one])]), lastAxis])]
        for decay in RecommenderFeatures.decays {
            let rate = graph.constant("decay_\(Int(decay))", floats: [-1 / decay], shape: [])
            channels.append(graph.node("Unsqueeze", [graph.node("Exp", [graph.node("Mul", [ages, rate])]), lastAxis]))
        }
        channels.append(graph.node("Unsqueeze", [bought, lastAxis]))
        let stacked = graph.node("Concat", channels, ["axis": 2])
        graph.constant("history_weights", floats: model.historyWeights, shape: [model.historyWeights.count])
        let historyScore = graph.node("ReduceSum", [graph.node("Mul", [stacked, "history_weights"]), lastAxis], ["keepdims": 0])

        // Per-item rows [N, I] filled by adding each history entry's value at its item (ScatterElements, add):
        // the history score, and whether the item was bought (padding entries add 0).
        let rowsShape = graph.node("Concat", [graph.node("Shape", ["customer_index"]),
                                              graph.constant("item_count", int64s: [Int64(itemCount)], shape: [1])], ["axis": 0])
        let zeros = graph.node("Expand", [zeroFloat, rowsShape])
        let scatter: [String: Any] = ["axis": 1, "reduction": "add"]
        let personal = graph.node("ScatterElements", [zeros, items, historyScore], scatter)
        let boughtRow = graph.node("ScatterElements", [zeros, items, bought], scatter)

        // Neighbour channel of never-bought items: each history entry's M neighbours get exp(-a/60) × their weight,
        // summed per item; log(1 + sum), zeroed on the items bought before.
        let width = model.neighbourCount
        graph.constant("neighbour_items", int64s: model.neighbourItems, shape: [itemCount, width])
        graph.constant("neighbour_weights", floats: model.neighbourWeights, shape: [itemCount, width])
        let flat = graph.constant("flat_shape", int64s: [0, -1], shape: [2])
        let reachedItems = graph.node("Reshape", [graph.node("Gather", ["neighbour_items", items], ["axis": 0]), flat])
        let recencyRate = graph.constant("neighbour_decay", floats: [-1 / RecommenderFeatures.neighbourDecay], shape: [])
        let recency = graph.node("Unsqueeze", [graph.node("Exp", [graph.node("Mul", [ages, recencyRate])]), lastAxis])
        let reachedWeights = graph.node("Reshape", [graph.node("Mul", [graph.node("Gather", ["neighbour_weights", items], ["axis": 0]), recency]), flat])
        let reached = graph.node("ScatterElements", [zeros, reachedItems, reachedWeights], scatter)
        let neverBought = graph.node("Sub", [one, boughtRow])
        let neighbourChannel = graph.node("Mul", [graph.node("Log", [graph.node("Add", [reached, one])]), neverBought])
        let neighbourWeight = graph.constant("neighbour_weight", floats: [model.neighbourWeight], shape: [])
        let neighbourScore = graph.node("Mul", [neighbourChannel, neighbourWeight])

        graph.constant("item_features", floats: model.itemFeatures, shape: [itemCount, RecommenderFeatures.itemChannels])
        graph.constant("item_weights", floats: model.itemWeights, shape: [model.itemWeights.count])
        let itemScore = graph.node("MatMul", ["item_features", "item_weights"])
        let scores = graph.node("Add", [graph.node("Add", [personal, neighbourScore]), itemScore])
        let k = graph.constant("k", int64s: [Int64(model.k)], shape: [1])
        graph.node("TopK", [scores, k], outputs: ["score", "item_index"], ["axis": -1, "largest": 1, "sorted": 1])

        var properties = metadata
        properties["customers"] = "[" + model.customers.map(String.init).joined(separator: ",") + "]"
        properties["items"] = String(decoding: try JSONEncoder().encode(model.stockCodes), as: UTF8.self)
        properties["k"] = String(model.k)
        properties["cutoff"] = model.cutoff.description
        properties["task"] = "recommender"
        graph.metadata(properties)
        return try graph.serialized()
    }
}
