/// One sample of a Prometheus text exposition: `name{label="value",...} 1.5`.
public struct MetricSample: Equatable, Sendable {
    public let name: String
    public let labels: [String: String]
    public let value: Double

    public init(name: String, labels: [String: String], value: Double) {
        self.name = name
        self.labels = labels
        self.value = value
    }
}

/// Reads the Prometheus text exposition format (version 0.0.4) that `/metrics` serves: comment and `# TYPE` lines
/// are skipped, each other line is a sample. Timestamps after the value are ignored.
public enum PrometheusText {
    /// A line that is not a sample.
    public struct ParseError: Error, CustomStringConvertible {
        public let line: Int
        public let reason: String
        public var description: String { "metrics line \(line): \(reason)" }
    }

    public static func parse(_ text: String) throws(ParseError) -> [MetricSample] {
        var samples: [MetricSample] = []
        for (index, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = rawLine.drop { $0 == " " || $0 == "\t" }
            if line.isEmpty || line.hasPrefix("#") { continue }
            samples.append(try sample(Substring(line), line: index + 1))
        }
        return samples
    }

    private static func sample(_ line: Substring, line number: Int) throws(ParseError) -> MetricSample {
        let nameEnd = line.firstIndex { $0 == "{" || $0 == " " } ?? line.endIndex
        let name = String(line[..<nameEnd])
        guard !name.isEmpty else { throw ParseError(line: number, reason: "no metric name") }
        var rest = line[nameEnd...]
        var labels: [String: String] = [:]
        if rest.first == "{" {
            rest = rest.dropFirst()
            while true {
                rest = rest.drop { $0 == " " || $0 == "," }
                if rest.first == "}" {
                    rest = rest.dropFirst()
                    break
                }
                guard let equals = rest.firstIndex(of: "="), rest[rest.index(after: equals)...].first == "\"" else {
                    throw ParseError(line: number, reason: "malformed label")
                }
                let key = String(rest[..<equals])
                rest = rest[rest.index(equals, offsetBy: 2)...]
                var value = ""
                var closed = false
                while let character = rest.first {
                    rest = rest.dropFirst()
                    if character == "\"" {
                        closed = true
                        break
                    }
                    if character == "\\", let escaped = rest.first {
                        rest = rest.dropFirst()
                        value.append(escaped == "n" ? "\n" : escaped)
                    } else {
                        value.append(character)
                    }
                }
                guard closed else { throw ParseError(line: number, reason: "unterminated label value") }
                labels[key] = value
            }
        }
        let fields = rest.split(separator: " ", omittingEmptySubsequences: true)
        guard let text = fields.first, let value = Self.value(text) else {
            throw ParseError(line: number, reason: "no value")
        }
        return MetricSample(name: name, labels: labels, value: value)
    }

    private static func value(_ text: Substring) -> Double? {
        switch text {
        case "+Inf": .infinity
        case "-Inf": -.infinity
        case "NaN": .nan
        default: Double(text)
        }
    }
}
