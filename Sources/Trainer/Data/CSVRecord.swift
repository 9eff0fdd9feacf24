/// Splits one CSV line (RFC 4180: comma-separated, `"`-quoted fields with `""` for a quote) into fields.
///
/// Works on the bytes of one line without its line break; returns nil when a quote is not closed.
enum CSVRecord {
    static func fields(_ line: UnsafeBufferPointer<UInt8>) -> [String]? {
        var fields: [String] = []
        fields.reserveCapacity(8)
        var index = 0
        let comma = UInt8(ascii: ","), quote = UInt8(ascii: "\"")
        while true {
            if index < line.count, line[index] == quote {
                var bytes: [UInt8] = []
                index += 1
                var closed = false
                while index < line.count {
                    if line[index] == quote {
                        if index + 1 < line.count, line[index + 1] == quote {
                            bytes.append(quote)
                            index += 2
                            continue
                        }
                        index += 1
                        closed = true
                        break
                    }
                    bytes.append(line[index])
                    index += 1
                }
                guard closed else { return nil }
                fields.append(String(decoding: bytes, as: UTF8.self))
                // Anything between the closing quote and the next comma is malformed.
                if index < line.count, line[index] != comma { return nil }
            } else {
                let start = index
                while index < line.count, line[index] != comma { index += 1 }
                fields.append(String(decoding: UnsafeBufferPointer(rebasing: line[start..<index]), as: UTF8.self))
            }
            if index >= line.count { return fields }
            index += 1  // the comma
            if index == line.count {
                fields.append("")
                return fields
            }
        }
    }
}
