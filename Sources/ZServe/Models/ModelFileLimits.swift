import Foundation
import ProtobufWire
import ServingProtocol

/// How large a model file may be before the runtime parses it: file bytes, graph nodes (subgraphs included) and
/// initializer bytes. Checked by walking the file's protobuf fields over a memory map, which allocates nothing the
/// size of the model, so a hostile file is refused before the runtime sets aside memory for it.
public struct ModelFileLimits: Sendable, Equatable {
    public var maxFileBytes: UInt64 = 4 << 30
    public var maxNodes = 100_000
    public var maxInitializerBytes: UInt64 = 4 << 30

    public init() {}

    /// Subgraphs nested deeper than this are refused (a guard against recursion exhaustion, not a model property).
    static let maxGraphDepth = 32

    /// Throws RESOURCE_EXHAUSTED naming the limit a file exceeds, INVALID_ARGUMENT when it is not a protobuf
    /// message, NOT_FOUND / INTERNAL when it cannot be read.
    public func check(file: URL) throws(ServingError) {
        let data: Data
        do {
            let size = try FileManager.default.attributesOfItem(atPath: file.path)[.size] as? UInt64 ?? 0
            guard size <= maxFileBytes else {
                throw ServingError(.resourceExhausted, "model file of \(size) bytes is over the --max-push-size limit of \(maxFileBytes)")
            }
            data = try Data(contentsOf: file, options: .alwaysMapped)
        } catch let error as ServingError {
            throw error
        } catch {
            throw ServingError(.internal, "cannot read \(file.lastPathComponent): \(error.localizedDescription)")
        }
        var counts = (nodes: 0, initializerBytes: UInt64(0))
        do {
            try data.withUnsafeBytes { buffer in counts = try Self.count(model: buffer) }
        } catch {
            throw ServingError(.invalidArgument, "not an ONNX model: \(error)")
        }
        guard counts.nodes <= maxNodes else {
            throw ServingError(.resourceExhausted, "model has \(counts.nodes) graph nodes, over the --max-graph-nodes limit of \(maxNodes)")
        }
        guard counts.initializerBytes <= maxInitializerBytes else {
            throw ServingError(.resourceExhausted,
                "model has \(counts.initializerBytes) initializer bytes, over the --max-initializer-bytes limit of \(maxInitializerBytes)")
        }
    }

    /// Nodes and initializer bytes of a ModelProto (graph = field 7).
    static func count(model buffer: UnsafeRawBufferPointer) throws(WireFormatError) -> (nodes: Int, initializerBytes: UInt64) {
        var reader = WireReader(buffer, 0..<buffer.count)
        var total = (nodes: 0, initializerBytes: UInt64(0))
        while let field = try reader.next() {
            guard field.number == 7, field.wireType == 2 else { continue }
            let graph = try count(graph: buffer, field.value, depth: 0)
            total = (total.nodes + graph.nodes, total.initializerBytes + graph.initializerBytes)
        }
        return total
    }

    /// GraphProto: node = 1, initializer = 5, sparse_initializer = 15; a node's attributes (NodeProto field 5) may
    /// hold subgraphs (AttributeProto g = 6, graphs = 11).
    private static func count(
        graph buffer: UnsafeRawBufferPointer, _ range: Range<Int>, depth: Int
    ) throws(WireFormatError) -> (nodes: Int, initializerBytes: UInt64) {
        guard depth < maxGraphDepth else { throw WireFormatError("subgraphs nested deeper than \(maxGraphDepth)") }
        var reader = WireReader(buffer, range)
        var total = (nodes: 0, initializerBytes: UInt64(0))
        while let field = try reader.next() {
            guard field.wireType == 2 else { continue }
            switch field.number {
            case 1:
                total.nodes += 1
                var node = WireReader(buffer, field.value)
                while let attribute = try node.next() {
                    guard attribute.number == 5, attribute.wireType == 2 else { continue }
                    var fields = WireReader(buffer, attribute.value)
                    while let inner = try fields.next() {
                        guard inner.number == 6 || inner.number == 11, inner.wireType == 2 else { continue }
                        let sub = try count(graph: buffer, inner.value, depth: depth + 1)
                        total = (total.nodes + sub.nodes, total.initializerBytes + sub.initializerBytes)
                    }
                }
            case 5, 15:
                total.initializerBytes += UInt64(field.value.count)
            default:
                continue
            }
        }
        return total
    }
}
