/// Maps a possibly negative `axis` into 0..<rank, or throws.
func normalizedAxis(_ axis: Int, rank: Int) throws(InferenceError) -> Int {
    let value = axis < 0 ? axis + rank : axis
    guard value >= 0 && value < rank else {
        throw InferenceError.invalidInput("axis \(axis) is out of range for rank \(rank)")
    }
    return value
}
