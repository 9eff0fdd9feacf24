import Foundation
import ServingProtocol

/// Typed construction and reading of wire tensors, so that callers need not lay out `raw_data` or `string_data`
/// themselves. Shapes are row-major; the element count must equal the product of the shape.
extension Zserve_V1_Tensor {
    /// A float32 tensor named `name` holding `values`.
    public init(name: String, float32 values: [Float], shape: [Int]) {
        self.init(name: name, dtype: .float32, shape: shape, count: values.count, raw: values.withUnsafeBytes { Data($0) })
    }

    /// An int64 tensor named `name` holding `values`.
    public init(name: String, int64 values: [Int64], shape: [Int]) {
        self.init(name: name, dtype: .int64, shape: shape, count: values.count, raw: values.withUnsafeBytes { Data($0) })
    }

    /// A string tensor named `name` holding `values`, one UTF-8 `string_data` entry each.
    public init(name: String, strings values: [String], shape: [Int]) {
        precondition(values.count == shape.reduce(1, *), "\(values.count) strings for shape \(shape)")
        self.init()
        self.name = name
        dtype = .string
        self.shape = shape.map(Int64.init)
        stringData = values.map { Data($0.utf8) }
    }

    private init(name: String, dtype: Zserve_V1_DataType, shape: [Int], count: Int, raw: Data) {
        precondition(count == shape.reduce(1, *), "\(count) values for shape \(shape)")
        self.init()
        self.name = name
        self.dtype = dtype
        self.shape = shape.map(Int64.init)
        rawData = raw
    }

    /// The elements of a float32 tensor; nil for another dtype or bytes that do not fit the shape.
    public var float32Values: [Float]? { values(of: .float32) }

    /// The elements of an int64 tensor; nil for another dtype or bytes that do not fit the shape.
    public var int64Values: [Int64]? { values(of: .int64) }

    /// The elements of a string tensor; nil for another dtype, a count that does not fit the shape, or an entry that
    /// is not UTF-8.
    public var stringValues: [String]? {
        guard dtype == .string, stringData.count == elementCount else { return nil }
        var strings: [String] = []
        strings.reserveCapacity(stringData.count)
        for entry in stringData {
            guard let string = String(validating: entry, as: UTF8.self) else { return nil }
            strings.append(string)
        }
        return strings
    }

    /// The product of the shape, or nil when a dimension is negative or the product overflows.
    private var elementCount: Int? {
        shape.reduce(Int?(1)) { product, dimension in
            guard let product, dimension >= 0 else { return nil }
            let (result, overflow) = product.multipliedReportingOverflow(by: Int(dimension))
            return overflow ? nil : result
        }
    }

    private func values<T>(of type: Zserve_V1_DataType) -> [T]? {
        guard dtype == type, let count = elementCount, rawData.count == count * MemoryLayout<T>.size else { return nil }
        return rawData.withUnsafeBytes { bytes in (0..<count).map { bytes.loadUnaligned(fromByteOffset: $0 * MemoryLayout<T>.size, as: T.self) } }
    }
}
