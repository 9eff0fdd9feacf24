/// StringConcat (opset 20): the element-wise concatenation of two string tensors, broadcast together.
struct StringConcatKernel: Kernel {
    init(_ node: NodeDefinition) throws {
        try node.expectInputs(2)
    }

    func run(_ io: NodeIO) throws {
        let (a, b) = (try io.requiredInput(0), try io.requiredInput(1))
        guard a.elementType == .string, b.elementType == .string else {
            throw InferenceError.invalidInput("StringConcat takes strings, got \(a.elementType) and \(b.elementType)")
        }
        let broadcast = try Broadcast([a.shape, b.shape])
        let y = try io.output(0, .string, broadcast.resultShape, writingStrings: true)
        guard y.count > 0 else { return }
        broadcast.map(a.strings, b.strings, into: y.mutableElements(as: String.self)) { $0 + $1 }
    }
}

/// StringSplit (opset 20): each string split as Python's `str.split` does — at every `delimiter`, or, when the
/// delimiter is absent or empty, at runs of whitespace with empty pieces dropped — at most `maxsplit` times; an
/// empty string has no pieces.
/// Outputs: the pieces, X's shape + [most pieces], padded with ""; and each string's piece count (int64, X's shape).
struct StringSplitKernel: Kernel {
    let delimiter: String?
    let maxSplits: Int?

    init(_ node: NodeDefinition) throws {
        try node.expectInputs(1)
        let delimiter = try node.attributes.string("delimiter")
        self.delimiter = delimiter?.isEmpty == false ? delimiter : nil
        maxSplits = try node.attributes.int("maxsplit")
    }

    func run(_ io: NodeIO) throws {
        let x = try io.requiredInput(0)
        guard x.elementType == .string else { throw InferenceError.invalidInput("StringSplit takes strings, got \(x.elementType)") }
        let pieces = x.strings.map { split($0) }
        let width = pieces.map(\.count).max() ?? 0
        let y = try io.output(0, .string, x.shape + [width], writingStrings: true).mutableElements(as: String.self)
        let counts = try io.output(1, .int64, x.shape).mutableElements(as: Int64.self)
        for (i, parts) in pieces.enumerated() {
            for (j, part) in parts.enumerated() { y[i * width + j] = String(part) }
            counts[i] = Int64(parts.count)
        }
    }

    private func split(_ string: String) -> [Substring] {
        let limit = maxSplits.map { $0 < 0 ? Int.max : $0 } ?? Int.max
        guard let delimiter else { return Self.splitAtWhitespace(string, limit: limit) }
        // An empty string has no pieces (onnxruntime's answer; Python's would be one empty piece).
        guard !string.isEmpty else { return [] }
        var pieces: [Substring] = []
        var rest = string[...]
        while pieces.count < limit, let range = rest.range(of: delimiter) {
            pieces.append(rest[..<range.lowerBound])
            rest = rest[range.upperBound...]
        }
        pieces.append(rest)
        return pieces
    }

    /// Python's `str.split(None, limit)`: runs of whitespace separate, leading whitespace is skipped, and the last
    /// piece (after `limit` splits) keeps its trailing whitespace.
    private static func splitAtWhitespace(_ string: String, limit: Int) -> [Substring] {
        var pieces: [Substring] = []
        var index = string.startIndex
        while true {
            while index < string.endIndex, string[index].isWhitespace { index = string.index(after: index) }
            guard index < string.endIndex else { break }
            if pieces.count == limit {
                pieces.append(string[index...])
                break
            }
            let start = index
            while index < string.endIndex, !string[index].isWhitespace { index = string.index(after: index) }
            pieces.append(string[start..<index])
        }
        return pieces
    }
}

/// StringNormalizer (opset 10): removes the stop words from a [C] or [1, C] string tensor (compared exactly, or
/// ignoring case when `is_case_sensitive` is 0), then changes case (`case_change_action` LOWER, UPPER or NONE). When
/// nothing is left the output is one empty string ([1] or [1, 1]).
struct StringNormalizerKernel: Kernel {
    enum CaseChange: String { case lower = "LOWER", upper = "UPPER", none = "NONE" }
    let caseChange: CaseChange
    let caseSensitive: Bool
    let stopwords: Set<String>
    let label: String

    init(_ node: NodeDefinition) throws {
        try node.expectInputs(1)
        let a = node.attributes
        let action = try a.string("case_change_action") ?? "NONE"
        guard let caseChange = CaseChange(rawValue: action) else {
            throw InferenceError.invalidModel("\(node.label): case_change_action '\(action)' is not LOWER, UPPER or NONE")
        }
        self.caseChange = caseChange
        caseSensitive = try a.int("is_case_sensitive", default: 0) != 0
        // The locale only matters for case changes beyond Unicode's default mappings, which this kernel uses.
        _ = try a.string("locale")
        let words = try a.strings("stopwords") ?? []
        stopwords = Set(caseSensitive ? words : words.map { $0.lowercased() })
        label = node.label
    }

    func run(_ io: NodeIO) throws {
        let x = try io.requiredInput(0)
        guard x.elementType == .string, x.rank == 1 || (x.rank == 2 && x.shape[0] == 1) else {
            throw InferenceError.invalidInput("\(label) takes a [C] or [1, C] string tensor, got \(x.elementType) \(x.shape)")
        }
        var kept = x.strings.filter { !stopwords.contains(caseSensitive ? $0 : $0.lowercased()) }
        switch caseChange {
        case .lower: kept = kept.map { $0.lowercased() }
        case .upper: kept = kept.map { $0.uppercased() }
        case .none: break
        }
        if kept.isEmpty { kept = [""] }
        let shape = x.rank == 1 ? [kept.count] : [1, kept.count]
        _ = try io.output(0, .string, shape, writingStrings: true).mutableElements(as: String.self).update(fromContentsOf: kept)
    }
}

/// RegexFullMatch (opset 20): whether each string matches `pattern` as a whole (bool, same shape). The pattern is
/// compiled at load with Swift's `Regex`, which reads the RE2 syntax ONNX names for the features models use
/// (classes, groups, alternation, repetition, anchors), set to RE2's ASCII classes and simple word boundaries; a
/// pattern it cannot read is refused at load.
struct RegexFullMatchKernel: Kernel {
    let pattern: Pattern

    /// A compiled pattern. `@unchecked Sendable`: a `Regex` is an immutable value once built, and matching does not
    /// change it, so threads may share it.
    struct Pattern: @unchecked Sendable {
        let regex: Regex<AnyRegexOutput>
    }

    init(_ node: NodeDefinition) throws {
        try node.expectInputs(1)
        guard let source = try node.attributes.string("pattern") else {
            throw InferenceError.invalidModel("\(node.label) has no pattern")
        }
        do {
            // RE2's rules: classes and word boundaries over ASCII, matching code point by code point.
            let regex = try Regex(source).wordBoundaryKind(.simple).asciiOnlyWordCharacters().asciiOnlyDigits()
                .asciiOnlyWhitespace().matchingSemantics(.unicodeScalar)
            pattern = Pattern(regex: regex)
        } catch {
            throw InferenceError.invalidModel("\(node.label): pattern '\(source)' does not compile (\(error))")
        }
    }

    func run(_ io: NodeIO) throws {
        let x = try io.requiredInput(0)
        guard x.elementType == .string else { throw InferenceError.invalidInput("RegexFullMatch takes strings, got \(x.elementType)") }
        let y = try io.output(0, .bool, x.shape).mutableElements(as: UInt8.self)
        for (i, string) in x.strings.enumerated() {
            y[i] = (try? pattern.regex.wholeMatch(in: string)) != nil ? 1 : 0
        }
    }
}
