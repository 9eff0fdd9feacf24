/// Einsum on float32, float64, int32 and int64: any equation over one or more inputs — explicit (`->`) or implicit
/// output, repeated labels (diagonals), `...` broadcast across inputs. Every output element sums the products over
/// the labels that do not reach the output, in double precision for floats (wrapping for integers). A plain loop over
/// every coordinate: general and exact, not a fast path for large contractions (MatMul is).
struct EinsumKernel: Kernel {
    let inputLabels: [[Character]]
    let outputLabels: [Character]?

    init(_ node: NodeDefinition) throws {
        guard node.inputCount >= 1 else { throw InferenceError.invalidModel("\(node.label) needs at least one input") }
        guard let equation = try node.attributes.string("equation") else {
            throw InferenceError.invalidModel("\(node.label) has no equation")
        }
        // "..." becomes "." so each label is one character.
        let compact = equation.filter { $0 != " " }.replacingOccurrences(of: "...", with: ".")
        let sides = compact.components(separatedBy: "->")
        guard sides.count <= 2 else { throw InferenceError.invalidModel("\(node.label): equation '\(equation)'") }
        inputLabels = sides[0].split(separator: ",", omittingEmptySubsequences: false).map(Array.init)
        outputLabels = sides.count == 2 ? Array(sides[1]) : nil
        let valid = (inputLabels + [outputLabels ?? []]).allSatisfy { $0.allSatisfy { $0.isLetter || $0 == "." } }
        guard valid, inputLabels.count == node.inputCount else {
            throw InferenceError.invalidModel("\(node.label): equation '\(equation)' does not fit \(node.inputCount) inputs")
        }
    }

    func run(_ io: NodeIO) throws {
        let inputs = try (0..<io.inputCount).map { try io.requiredInput($0) }
        let type = inputs[0].elementType
        guard inputs.allSatisfy({ $0.elementType == type }), [.float32, .float64, .int32, .int64].contains(type) else {
            throw InferenceError.invalidInput("Einsum takes float32, float64, int32 or int64 inputs of one type")
        }
        // Ellipsis dimensions get the labels "0", "1", ... (right-aligned across inputs, broadcasting 1s).
        let ellipsisRank = try zip(inputLabels, inputs).map { labels, x -> Int in
            let explicit = labels.filter { $0 != "." }.count
            guard labels.contains(".") ? x.rank >= explicit : x.rank == explicit else {
                throw InferenceError.invalidInput("Einsum term '\(String(labels))' does not fit shape \(x.shape)")
            }
            return x.rank - explicit
        }.max() ?? 0
        let ellipsis = (0..<ellipsisRank).map { Character(String($0)) }
        var sizes: [Character: Int] = [:]
        var terms: [[Character]] = []
        for (labels, x) in zip(inputLabels, inputs) {
            let own = x.rank - labels.filter { $0 != "." }.count
            let expanded = labels.flatMap { $0 == "." ? Array(ellipsis.suffix(own)) : [$0] }
            for (label, dim) in zip(expanded, x.shape) {
                if let known = sizes[label], known != dim {
                    guard label.isNumber, known == 1 || dim == 1 else {
                        throw InferenceError.invalidInput("Einsum label '\(label)' has sizes \(known) and \(dim)")
                    }
                    sizes[label] = Swift.max(known, dim)
                } else if sizes[label] == nil {
                    sizes[label] = dim
                }
            }
            terms.append(expanded)
        }
        let output: [Character]
        if let outputLabels {
            output = outputLabels.flatMap { $0 == "." ? ellipsis : [$0] }
            guard output.allSatisfy({ sizes[$0] != nil }), Set(output).count == output.count else {
                throw InferenceError.invalidInput("Einsum output '\(String(outputLabels))' names unknown or repeated labels")
            }
        } else {
            let counts = terms.joined().reduce(into: [Character: Int]()) { $0[$1, default: 0] += 1 }
            output = ellipsis + counts.keys.filter { $0.isLetter && counts[$0] == 1 }.sorted()
        }
        let summed = Array(Set(terms.joined()).subtracting(output)).sorted()
        let all = output + summed
        let dims = all.map { sizes[$0]! }
        // Per input: its element stride for each of `all`'s labels (0 when absent or broadcast).
        let strides = zip(terms, inputs).map { term, x -> [Int] in
            let own = x.shape.strides
            return all.map { label in
                zip(term.indices, term).filter { $0.1 == label }.reduce(0) { $0 + (x.shape[$1.0] == 1 ? 0 : own[$1.0]) }
            }
        }
        let y = try io.output(0, type, output.map { sizes[$0]! })
        let contraction = Contraction(strides: strides, dims: dims, outputRank: output.count,
                                      inner: summed.reduce(1) { $0 * sizes[$1]! })
        switch type {
        case .float32: contraction.run(inputs, y, Float.self, zero: 0.0, { Double($0) }, { Float($0) }, *, +)
        case .float64: contraction.run(inputs, y, Double.self, zero: 0.0, { $0 }, { $0 }, *, +)
        case .int32: contraction.run(inputs, y, Int32.self, zero: Int32(0), { $0 }, { $0 }, &*, &+)
        default: contraction.run(inputs, y, Int64.self, zero: Int64(0), { $0 }, { $0 }, &*, &+)
        }
    }

    /// The loops of one contraction: output coordinates outside, summed ones inside, each input read at the offset
    /// its strides give for the current coordinates.
    private struct Contraction {
        let strides: [[Int]]
        let dims: [Int]
        let outputRank: Int
        let inner: Int

        func run<T, A>(
            _ inputs: [Tensor], _ y: Tensor, _: T.Type, zero: A, _ widen: (T) -> A, _ narrow: (A) -> T,
            _ multiply: (A, A) -> A, _ add: (A, A) -> A
        ) {
            let sources = inputs.map { $0.elements(as: T.self) }
            let out = y.mutableElements(as: T.self)
            var counter = [Int](repeating: 0, count: dims.count)
            /// Advances the coordinates from `last` down to `first`; like an odometer.
            func advance(_ first: Int, _ last: Int) {
                var d = last
                while d >= first {
                    counter[d] += 1
                    if counter[d] < dims[d] { return }
                    counter[d] = 0
                    d -= 1
                }
            }
            for o in 0..<y.count {
                var sum = zero
                for _ in 0..<inner {
                    var product: A?
                    for (source, stride) in zip(sources, strides) {
                        var offset = 0
                        for d in 0..<dims.count { offset += counter[d] * stride[d] }
                        let value = widen(source[offset])
                        product = product.map { multiply($0, value) } ?? value
                    }
                    sum = add(sum, product!)
                    advance(outputRank, dims.count - 1)
                }
                out[o] = narrow(sum)
                advance(0, outputRank - 1)
            }
        }
    }
}

/// Det: the determinant of each square matrix in [..., M, M] (float32, float64), by LU decomposition with partial
/// pivoting in double precision.
struct DetKernel: Kernel {
    init(_ node: NodeDefinition) throws {
        try node.expectInputs(1)
    }

    func run(_ io: NodeIO) throws {
        let x = try io.requiredInput(0)
        guard x.rank >= 2, x.shape[x.rank - 1] == x.shape[x.rank - 2] else {
            throw InferenceError.invalidInput("Det takes square matrices [..., M, M], got \(x.shape)")
        }
        let n = x.shape[x.rank - 1]
        let y = try io.output(0, x.elementType, Array(x.shape.dropLast(2)))
        func determinants<T: BinaryFloatingPoint>(_: T.Type) {
            let src = x.elements(as: T.self), out = y.mutableElements(as: T.self)
            for matrix in 0..<y.count {
                var a = (0..<(n * n)).map { Double(src[matrix * n * n + $0]) }
                var det = 1.0
                for column in 0..<n {
                    let pivot = (column..<n).max { Swift.abs(a[$0 * n + column]) < Swift.abs(a[$1 * n + column]) }!
                    if a[pivot * n + column] == 0 { det = 0; break }
                    if pivot != column {
                        for k in 0..<n { a.swapAt(pivot * n + k, column * n + k) }
                        det = -det
                    }
                    let p = a[column * n + column]
                    det *= p
                    for row in (column + 1)..<n {
                        let factor = a[row * n + column] / p
                        for k in column..<n { a[row * n + k] -= factor * a[column * n + k] }
                    }
                }
                out[matrix] = T(det)
            }
        }
        switch x.elementType {
        case .float32: determinants(Float.self)
        case .float64: determinants(Double.self)
        default: throw InferenceError.invalidInput("Det does not take \(x.elementType)")
        }
    }
}
