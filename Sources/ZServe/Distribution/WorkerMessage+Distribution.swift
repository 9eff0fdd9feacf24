/// Frames of the model-distribution messages between the broker and remote workers.
///
/// - catalog: `[8]` then per entry `[model][version 8, size 8, sha256 32]`
/// - fetch: `[9][sha256 32][offset 8, length 4]`
/// - chunk: `[10][sha256 32][offset 8][bytes]`
/// - fetchFailed: `[11][sha256 32][reason, UTF-8]`
/// - have: `[12]` then per version `[model][version 8]`
/// - missing: `[13][model][version 8]`
///
/// Integers are little-endian. Parsing refuses anything else (wrong sizes, empty or over-long model names).
extension WorkerMessage {
    /// Longest model name accepted in these messages (repository names are far shorter).
    static let maximumModelNameBytes = 1024
    /// Largest chunk a worker may ask for.
    static let maximumChunkBytes: UInt32 = 4 << 20

    var distributionFrames: [[UInt8]] {
        switch self {
        case .catalog(let entries):
            var frames: [[UInt8]] = [[Command.catalog.rawValue]]
            for entry in entries {
                var fixed: [UInt8] = []
                fixed.reserveCapacity(48)
                fixed.appendLittleEndian(UInt64(bitPattern: entry.key.version))
                fixed.appendLittleEndian(entry.size)
                fixed += entry.sha256
                frames += [Array(entry.key.model.utf8), fixed]
            }
            return frames
        case .fetch(let sha256, let offset, let length):
            var range: [UInt8] = []
            range.appendLittleEndian(offset)
            range.appendLittleEndian(length)
            return [[Command.fetch.rawValue], sha256, range]
        case .chunk(let sha256, let offset, let bytes):
            var position: [UInt8] = []
            position.appendLittleEndian(offset)
            return [[Command.chunk.rawValue], sha256, position, bytes]
        case .fetchFailed(let sha256, let reason):
            return [[Command.fetchFailed.rawValue], sha256, Array(reason.utf8)]
        case .have(let keys):
            var frames: [[UInt8]] = [[Command.have.rawValue]]
            for key in keys { frames += Self.frames(key) }
            return frames
        case .missing(let key):
            return [[Command.missing.rawValue]] + Self.frames(key)
        default:
            preconditionFailure("not a distribution message")
        }
    }

    init?(distribution command: Command, _ frames: [[UInt8]]) {
        switch command {
        case .catalog:
            guard frames.count % 2 == 1 else { return nil }
            var entries: [CatalogEntry] = []
            for index in stride(from: 1, to: frames.count, by: 2) {
                let fixed = frames[index + 1]
                guard let model = Self.modelName(frames[index]), fixed.count == 48 else { return nil }
                let version = Int64(bitPattern: fixed.littleEndianUInt64(at: 0))
                guard version > 0 else { return nil }
                entries.append(CatalogEntry(
                    key: VersionKey(model: model, version: version), sha256: Array(fixed[16..<48]),
                    size: fixed.littleEndianUInt64(at: 8)))
            }
            self = .catalog(entries)
        case .fetch:
            guard frames.count == 3, frames[1].count == 32, frames[2].count == 12 else { return nil }
            let length = UInt32(truncatingIfNeeded: frames[2].littleEndianUInt64(at: 8))
            guard length > 0, length <= Self.maximumChunkBytes else { return nil }
            self = .fetch(sha256: frames[1], offset: frames[2].littleEndianUInt64(at: 0), length: length)
        case .chunk:
            guard frames.count == 4, frames[1].count == 32, frames[2].count == 8 else { return nil }
            self = .chunk(sha256: frames[1], offset: frames[2].littleEndianUInt64(at: 0), bytes: frames[3])
        case .fetchFailed:
            guard frames.count == 3, frames[1].count == 32 else { return nil }
            self = .fetchFailed(sha256: frames[1], reason: String(decoding: frames[2].prefix(4096), as: UTF8.self))
        case .have:
            guard frames.count % 2 == 1 else { return nil }
            var keys: [VersionKey] = []
            for index in stride(from: 1, to: frames.count, by: 2) {
                guard let key = Self.key(frames[index], frames[index + 1]) else { return nil }
                keys.append(key)
            }
            self = .have(keys)
        case .missing:
            guard frames.count == 3, let key = Self.key(frames[1], frames[2]) else { return nil }
            self = .missing(key)
        default:
            return nil
        }
    }

    private static func frames(_ key: VersionKey) -> [[UInt8]] {
        var version: [UInt8] = []
        version.appendLittleEndian(UInt64(bitPattern: key.version))
        return [Array(key.model.utf8), version]
    }

    private static func key(_ name: [UInt8], _ version: [UInt8]) -> VersionKey? {
        guard let model = modelName(name), version.count == 8 else { return nil }
        let number = Int64(bitPattern: version.littleEndianUInt64(at: 0))
        return number > 0 ? VersionKey(model: model, version: number) : nil
    }

    private static func modelName(_ bytes: [UInt8]) -> String? {
        guard !bytes.isEmpty, bytes.count <= maximumModelNameBytes else { return nil }
        return String(validating: bytes, as: UTF8.self)
    }
}

extension Array where Element == UInt8 {
    /// Appends `value` as little-endian bytes.
    mutating func appendLittleEndian<T: FixedWidthInteger>(_ value: T) {
        Swift.withUnsafeBytes(of: value.littleEndian) { append(contentsOf: $0) }
    }

    /// The little-endian UInt64 at byte `offset`; bytes past the end read as zero.
    func littleEndianUInt64(at offset: Int) -> UInt64 {
        var value: UInt64 = 0
        for index in (offset..<Swift.min(offset + 8, count)).reversed() { value = value << 8 | UInt64(self[index]) }
        return value
    }
}
