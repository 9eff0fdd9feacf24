import CLZMA
import Foundation

/// Decompresses a whole `.xz` file into memory with liblzma's stream decoder.
///
/// Concatenated streams are accepted (as `xz -d` does). Errors name the file and liblzma's reason.
enum XZDecoder {
    /// The decompressed bytes of `data`, which came from `file` (used in errors).
    static func decompress(_ data: Data, file: String) throws -> [UInt8] {
        var stream = lzma_stream()
        // UINT64_MAX: no memory limit (the log decodes with a few MiB); CONCATENATED: read every stream in the file.
        let started = lzma_stream_decoder(&stream, UInt64.max, clzma_concatenated)
        guard started == LZMA_OK else { throw LogError(file: file, line: 0, "liblzma could not start (\(started.rawValue))") }
        defer { lzma_end(&stream) }

        var output = [UInt8]()
        output.reserveCapacity(data.count * 16)
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        try data.withUnsafeBytes { (input: UnsafeRawBufferPointer) in
            // Safe: `input` outlives the loop, liblzma only reads `avail_in` bytes from `next_in`, and `chunk`'s
            // buffer is valid for `avail_out` bytes for the duration of each lzma_code call.
            stream.next_in = input.bindMemory(to: UInt8.self).baseAddress
            stream.avail_in = input.count
            var action = LZMA_RUN
            while true {
                if stream.avail_in == 0 { action = LZMA_FINISH }
                let (result, produced) = chunk.withUnsafeMutableBufferPointer { buffer -> (lzma_ret, Int) in
                    stream.next_out = buffer.baseAddress
                    stream.avail_out = buffer.count
                    let result = lzma_code(&stream, action)
                    return (result, buffer.count - stream.avail_out)
                }
                output.append(contentsOf: chunk[0..<produced])
                if result == LZMA_STREAM_END { return }
                guard result == LZMA_OK else {
                    throw LogError(file: file, line: 0, "not a valid .xz file (liblzma error \(result.rawValue): \(Self.reason(result)))")
                }
            }
        }
        return output
    }

    private static func reason(_ code: lzma_ret) -> String {
        switch code {
        case LZMA_FORMAT_ERROR: "file format not recognized"
        case LZMA_DATA_ERROR: "compressed data is corrupt"
        case LZMA_BUF_ERROR: "compressed data is truncated"
        case LZMA_MEM_ERROR: "out of memory"
        case LZMA_OPTIONS_ERROR: "unsupported options"
        default: "decoder error"
        }
    }
}
