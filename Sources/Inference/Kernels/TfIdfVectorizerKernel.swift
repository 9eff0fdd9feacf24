/// TfIdfVectorizer (opset 9): counts the pool's n-grams in each row of int64/int32 or string tokens ([C] → [K], or
/// [N, C] → [N, K], K = max(ngram_indexes) + 1), optionally with skips between an n-gram's tokens, then weights the
/// counts (TF: counts; IDF: the column's weight, or 1, where the count is > 0; TFIDF: weight × count).
///
/// Follows onnxruntime's walk (as ONNX's reference does): for each skip distance 1 … max_skip_count + 1 and each
/// start, the pool's trie is followed token by token; every n-gram of min…max length met is counted, 1-grams only
/// at skip distance 1.
struct TfIdfVectorizerKernel: Kernel {
    enum Mode: String { case tf = "TF", idf = "IDF", tfidf = "TFIDF" }

    /// The pool's n-grams as a trie over tokens; `ids[node]` is the 1-based n-gram id ending there (0: none).
    struct Trie<Token: Hashable & Sendable>: Sendable {
        var children: [[Token: Int]] = [[:]]
        var ids: [Int] = [0]

        /// Inserts `gram`, giving its last node `id`.
        mutating func insert(_ gram: ArraySlice<Token>, id: Int) {
            var node = 0
            for token in gram {
                if let next = children[node][token] {
                    node = next
                } else {
                    children.append([:])
                    ids.append(0)
                    children[node][token] = children.count - 1
                    node = children.count - 1
                }
            }
            ids[node] = id
        }
    }

    enum Pool: Sendable {
        case integers(Trie<Int64>)
        case strings(Trie<String>)
    }

    let pool: Pool
    let mode: Mode
    let minLength: Int
    let maxLength: Int
    let maxSkip: Int
    let indexes: [Int]
    let weights: [Float]
    let width: Int
    let label: String

    init(_ node: NodeDefinition) throws {
        try node.expectInputs(1)
        let a = node.attributes
        label = node.label
        let modeName = try a.string("mode") ?? ""
        guard let mode = Mode(rawValue: modeName) else {
            throw InferenceError.invalidModel("\(label): mode '\(modeName)' is not TF, IDF or TFIDF")
        }
        self.mode = mode
        guard let minLength = try a.int("min_gram_length"), let maxLength = try a.int("max_gram_length"),
              let maxSkip = try a.int("max_skip_count"), minLength >= 1, maxLength >= minLength, maxSkip >= 0 else {
            throw InferenceError.invalidModel("\(label) needs 1 ≤ min_gram_length ≤ max_gram_length and max_skip_count ≥ 0")
        }
        (self.minLength, self.maxLength, self.maxSkip) = (minLength, maxLength, maxSkip)
        let counts = try a.ints("ngram_counts") ?? []
        indexes = try a.ints("ngram_indexes") ?? []
        weights = try a.floats("weights") ?? []
        guard let largest = indexes.max(), largest < 1 << 32, indexes.allSatisfy({ $0 >= 0 }) else {
            throw InferenceError.invalidModel("\(label) needs ngram_indexes in 0..<2^32")
        }
        width = largest + 1
        guard weights.isEmpty || weights.count >= width else {
            throw InferenceError.invalidModel("\(label): \(weights.count) weights for \(width) output columns")
        }
        let integers = try a.ints("pool_int64s").map { $0.map(Int64.init) }
        let strings = try a.strings("pool_strings")
        guard (integers == nil) != (strings == nil) else {
            throw InferenceError.invalidModel("\(label) needs exactly one of pool_int64s and pool_strings")
        }
        let total = integers?.count ?? strings!.count
        guard counts.first == 0, zip(counts, counts.dropFirst()).allSatisfy({ $0 <= $1 }), (counts.last ?? 0) <= total else {
            throw InferenceError.invalidModel("\(label): ngram_counts must start at 0 and rise within the pool")
        }
        let lengths = minLength...maxLength
        pool = if let integers {
            .integers(try Self.trie(integers, counts: counts, lengths: lengths, indexCount: indexes.count, label: label))
        } else {
            .strings(try Self.trie(strings!, counts: counts, lengths: lengths, indexCount: indexes.count, label: label))
        }
    }

    /// The trie of the pool's n-grams whose length is in `lengths`; ids count every n-gram of the pool, in order.
    private static func trie<Token>(
        _ tokens: [Token], counts: [Int], lengths: ClosedRange<Int>, indexCount: Int, label: String
    ) throws -> Trie<Token> {
        var trie = Trie<Token>()
        var id = 1
        for (position, start) in counts.enumerated() {
            let size = position + 1
            let end = position + 1 < counts.count ? counts[position + 1] : tokens.count
            let grams = (end - start) / size
            for gram in 0..<grams where lengths.contains(size) {
                trie.insert(tokens[(start + gram * size)..<(start + (gram + 1) * size)], id: id + gram)
            }
            id += grams
        }
        guard id - 1 <= indexCount else {
            throw InferenceError.invalidModel("\(label): \(id - 1) n-grams in the pool, \(indexCount) ngram_indexes")
        }
        return trie
    }

    func run(_ io: NodeIO) throws {
        let x = try io.requiredInput(0)
        guard x.rank <= 2, x.rank < 2 || x.shape[0] > 0 else {
            throw InferenceError.invalidInput("\(label) takes [C] or [N, C] tokens with N > 0, got \(x.shape)")
        }
        let rows = x.rank == 2 ? x.shape[0] : 1
        let columns = x.rank == 0 ? 1 : x.shape[x.rank - 1]
        let y = try io.output(0, .float32, x.rank == 2 ? [rows, width] : [width]).mutableElements(as: Float.self)
        y.update(repeating: 0)
        switch (pool, x.elementType) {
        case (.integers(let trie), .int64): count(trie, x.elements(as: Int64.self), rows, columns, y)
        case (.integers(let trie), .int32): count(trie, x.elements(as: Int32.self).map(Int64.init), rows, columns, y)
        case (.strings(let trie), .string): count(trie, x.strings, rows, columns, y)
        default:
            let wanted = if case .strings = pool { "string" } else { "int64 or int32" }
            throw InferenceError.invalidInput("\(label) takes \(wanted) tokens, got \(x.elementType)")
        }
        for row in 0..<rows {
            for column in 0..<width {
                let index = row * width + column
                let weight = weights.isEmpty ? 1 : weights[column]
                switch mode {
                case .tf: break
                case .idf: y[index] = y[index] > 0 ? weight : 0
                case .tfidf: y[index] *= weight
                }
            }
        }
    }

    /// Adds each row's n-gram counts into `y` (rows × width).
    private func count<Tokens: RandomAccessCollection>(
        _ trie: Trie<Tokens.Element>, _ tokens: Tokens, _ rows: Int, _ columns: Int, _ y: UnsafeMutableBufferPointer<Float>
    ) where Tokens.Index == Int {
        guard !trie.children[0].isEmpty else { return }
        for row in 0..<rows {
            let begin = tokens.startIndex + row * columns, end = begin + columns
            var shortest = minLength
            for skip in 1...(maxSkip + 1) {
                for start in begin..<end {
                    guard start + skip * (shortest - 1) < end else { break }
                    var (node, size, item) = (0, 1, start)
                    while size <= maxLength, item < end, let next = trie.children[node][tokens[item]] {
                        let id = trie.ids[next]
                        if size >= shortest && id != 0 { y[row * width + indexes[id - 1]] += 1 }
                        (node, size, item) = (next, size + 1, item + skip)
                    }
                }
                // 1-grams are counted once, at skip distance 1.
                if shortest == 1 {
                    shortest = 2
                    if shortest > maxLength { break }
                }
            }
        }
    }
}
