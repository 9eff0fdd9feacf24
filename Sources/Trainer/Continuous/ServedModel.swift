import Foundation
import ServingProtocol
import ZServeClient

/// Predictions of one served version through a ZServe frontend, in the shapes the evaluations take.
///
/// Not thread-safe (it uses one `Client`).
struct ServedModel {
    let client: Client
    let name: String
    let version: Int64

    /// The recommender's item indexes for customer indexes (`item_index`, [N, K]).
    func recommend(_ customers: [Int64]) throws -> [[Int64]] {
        let reply = try predict([tensor("customer_index", customers.withUnsafeBytes { Data($0) }, .int64, [customers.count])],
                                output: "item_index")
        let k = Int(reply.shape.last ?? 0)
        let values = reply.rawData.withUnsafeBytes { Array($0.bindMemory(to: Int64.self)) }
        guard k > 0, values.count == customers.count * k else {
            throw Client.Failure.malformedReply("item_index holds \(values.count) values for \(customers.count) customers")
        }
        return (0..<customers.count).map { Array(values[$0 * k..<($0 + 1) * k]) }
    }

    /// The first column of `output` for float rows `width` wide, in batches.
    func predict(rows: [Float], width: Int, output: String, batch: Int = 2048) throws -> [Float] {
        var values: [Float] = []
        let count = rows.count / width
        for start in stride(from: 0, to: count, by: batch) {
            let n = min(batch, count - start)
            let slice = Array(rows[start * width..<(start + n) * width])
            let reply = try predict([tensor("features", slice.withUnsafeBytes { Data($0) }, .float32, [n, width])], output: output)
            let column = reply.rawData.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
            guard column.count == n else { throw Client.Failure.malformedReply("\(output) holds \(column.count) values for \(n) rows") }
            values += column
        }
        return values
    }

    private func tensor(_ name: String, _ bytes: Data, _ type: Zserve_V1_DataType, _ shape: [Int]) -> Zserve_V1_Tensor {
        .with {
            $0.name = name
            $0.dtype = type
            $0.shape = shape.map(Int64.init)
            $0.rawData = bytes
        }
    }

    private func predict(_ inputs: [Zserve_V1_Tensor], output: String) throws -> Zserve_V1_Tensor {
        let response = try client.predict(.with {
            $0.model = .with { $0.name = name; $0.version = version }
            $0.inputs = inputs
            $0.outputNames = [output]
        })
        guard let tensor = response.outputs.first(where: { $0.name == output }) ?? response.outputs.first else {
            throw Client.Failure.malformedReply("no output \(output)")
        }
        return tensor
    }
}
