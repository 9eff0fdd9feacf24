#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import ProtobufWire

/// An ONNX model file read so that the weights are copied once: the initializers' raw_data are cut out of the
/// protobuf before it is decoded, and each is later read from the file straight into its tensor's storage.
///
/// Without this, decoding copies every weight into the protobuf message and planning copies it again into tensors,
/// so a model briefly takes twice its size. Owned by one loader; not shared.
final class ONNXFile {
    /// The ModelProto with every graph initializer's raw_data field removed.
    let strippedModel: Data
    /// For each graph initializer, in order: where its raw_data lies in the file (nil when it has none).
    let rawDataRanges: [Range<Int>?]
    private let descriptor: Int32
    private let path: String

    /// Opens and scans `url`. The scan maps the file and touches only field headers, not the weights.
    init(url: URL) throws {
        path = url.path
        let mapped: Data
        do {
            mapped = try Data(contentsOf: url, options: .alwaysMapped)
        } catch {
            throw InferenceError.invalidModel("cannot read \(url.path): \(error.localizedDescription)")
        }
        var ranges: [Range<Int>?] = []
        strippedModel = try mapped.withUnsafeBytes { buffer throws(InferenceError) in
            try Self.strip(model: buffer, 0..<buffer.count, ranges: &ranges)
        }
        rawDataRanges = ranges
        // Opened for the reads that follow; closed in deinit. The descriptor never leaves this object.
        descriptor = open(url.path, O_RDONLY)
        guard descriptor >= 0 else { throw InferenceError.invalidModel("cannot open \(url.path): errno \(errno)") }
    }

    deinit { close(descriptor) }

    /// A new storage holding the file's bytes in `range`.
    func read(_ range: Range<Int>) throws(InferenceError) -> TensorStorage {
        let storage = TensorStorage(byteCapacity: range.count)
        var done = 0
        while done < range.count {
            // pread writes at most `range.count - done` bytes into the storage past what is already filled.
            let count = pread(descriptor, storage.pointer + done, range.count - done, off_t(range.lowerBound + done))
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { throw InferenceError.invalidModel("reading \(path) failed at byte \(range.lowerBound + done)") }
            done += count
        }
        return storage
    }

    /// ModelProto: rewrites field 7 (graph), copies the rest.
    private static func strip(model buffer: UnsafeRawBufferPointer, _ range: Range<Int>, ranges: inout [Range<Int>?]) throws(InferenceError) -> Data {
        var out = Data()
        var reader = WireReader(buffer, range)
        while let field = try reader.nextField() {
            if field.number == 7 && field.wireType == 2 {
                out.appendField(7, payload: try strip(graph: buffer, field.value, ranges: &ranges))
            } else {
                out.append(contentsOf: buffer[field.bytes])
            }
        }
        return out
    }

    /// GraphProto: rewrites each field 5 (initializer), copies the rest.
    private static func strip(graph buffer: UnsafeRawBufferPointer, _ range: Range<Int>, ranges: inout [Range<Int>?]) throws(InferenceError) -> Data {
        var out = Data()
        var reader = WireReader(buffer, range)
        while let field = try reader.nextField() {
            if field.number == 5 && field.wireType == 2 {
                var raw: Range<Int>?
                var tensor = Data()
                var fields = WireReader(buffer, field.value)
                while let inner = try fields.nextField() {
                    // raw_data (field 9): remembered, not copied; protobuf's last occurrence wins.
                    if inner.number == 9 && inner.wireType == 2 {
                        raw = inner.value
                    } else {
                        tensor.append(contentsOf: buffer[inner.bytes])
                    }
                }
                ranges.append(raw)
                out.appendField(5, payload: tensor)
            } else {
                out.append(contentsOf: buffer[field.bytes])
            }
        }
        return out
    }
}
