/// The byte format the request fuzzer reads: a message's frames, each as a LEB128 varint length then that many bytes.
///
/// Every byte string decodes to some frames (a length past the end takes what is left; a varint cut short ends the
/// input), so a fuzzer's mutations always reach the server. As on a ROUTER socket, frames past
/// the broker's `ReceivedRequest.frameLimit` are dropped and the message is marked truncated. Seeds and regression inputs are
/// written with `encode(_:)`.
public enum FuzzFrames {
    /// Most frames decoded; more mark the message truncated (the server's own limit).
    public static let limit = 11

    /// The frames in `bytes`, and whether frames past `limit` were dropped.
    public static func decode(_ bytes: some Collection<UInt8>) -> (frames: [[UInt8]], truncated: Bool) {
        var frames: [[UInt8]] = []
        var rest = bytes[...]
        while !rest.isEmpty {
            var length: UInt64 = 0
            var shift: UInt64 = 0
            var complete = false
            while let byte = rest.popFirst() {
                if shift < 64 { length |= UInt64(byte & 0x7f) << shift }
                shift += 7
                if byte & 0x80 == 0 { complete = true; break }
            }
            guard complete else { break }
            let count = Int(min(length, UInt64(rest.count)))
            guard frames.count < limit else { return (frames, true) }
            frames.append(Array(rest.prefix(count)))
            rest = rest.dropFirst(count)
        }
        return (frames, false)
    }

    /// The bytes that decode to `frames`.
    public static func encode(_ frames: [[UInt8]]) -> [UInt8] {
        var bytes: [UInt8] = []
        for frame in frames {
            var length = UInt64(frame.count)
            repeat {
                let low = UInt8(length & 0x7f)
                length >>= 7
                bytes.append(length == 0 ? low : low | 0x80)
            } while length != 0
            bytes += frame
        }
        return bytes
    }
}
