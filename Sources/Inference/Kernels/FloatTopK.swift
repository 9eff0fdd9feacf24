/// The k best elements of a contiguous float32 row: a vector scan against the k-th best seen so far that collects
/// the few elements beating it into a candidate buffer, cut back to the best k whenever the buffer fills.
///
/// "Best" is the larger value (or the smaller, for TopK's `largest = 0`), then the lower index; NaN ranks after every
/// number. Each row costs one pass of eight-lane compares plus work proportional to the elements that beat the
/// running threshold, where a heap pays a sift per such element.
///
/// Short rows with a small k (rows under 4 × `capacity` elements, k ≤ 32: a few hundred items, as in a two-tower
/// model's candidate list) keep the best k sorted instead, inserting each element that beats the current k-th best
/// at once, so the threshold tightens from the first elements on: about k·ln(count/k) insertions per random row.
struct FloatTopK {
    /// A candidate: its sort key (the value, negated when selecting the smallest) and its index in the row.
    struct Candidate {
        var key: Float
        var index: Int32
    }

    let k: Int
    let largest: Bool

    /// Candidates one row may hold before being cut back to k.
    var capacity: Int { k + Swift.max(k, 256) }

    /// Writes the best `k` of `row[0..<count]`, best first, to `values` and `indices` (each `k` long).
    ///
    /// `buffer` is scratch for `capacity` candidates, used by this call only. Needs 1 ≤ k ≤ count < 2³¹.
    func select(
        _ row: UnsafePointer<Float>, count: Int, values: UnsafeMutablePointer<Float>,
        indices: UnsafeMutablePointer<Int64>, buffer: UnsafeMutablePointer<Candidate>
    ) {
        let sign: Float = largest ? 1 : -1
        if k <= Self.shortRowLargestK && count < 4 * capacity {
            return selectShort(row, count: count, sign: sign, values: values, indices: indices, buffer: buffer)
        }
        var size = 0
        // Long rows start from a threshold estimated on a sample, which lets few elements in; it is only a guess, so
        // when fewer than k elements beat it the row is scanned again the sure way.
        if count >= 4 * capacity, let estimate = estimate(row, count: count, sign: sign, buffer: buffer) {
            size = scan(row, count: count, from: 0, sign: sign, buffer: buffer, size: 0, threshold: estimate)
        }
        if size < k {
            // The first k elements are the first candidates; the threshold is then the worst of them.
            for j in 0..<k { buffer[j] = Candidate(key: sign * row[j], index: Int32(j)) }
            size = scan(row, count: count, from: k, sign: sign, buffer: buffer, size: k, threshold: cut(buffer, size: k))
        }
        _ = cut(buffer, size: size)
        var best = UnsafeMutableBufferPointer(start: buffer, count: k)
        best.sort(by: Self.better)
        for r in 0..<k {
            values[r] = row[Int(buffer[r].index)]
            indices[r] = Int64(buffer[r].index)
        }
    }

    /// The largest k for which short rows take the sorted-insertion path.
    static let shortRowLargestK = 32

    /// Short rows: the best k so far, sorted best first in `buffer[0..<k]`, the k-th best the threshold an element
    /// must beat; eight elements are compared with it at a time and only those beating it are inserted.
    private func selectShort(
        _ row: UnsafePointer<Float>, count: Int, sign: Float, values: UnsafeMutablePointer<Float>,
        indices: UnsafeMutablePointer<Int64>, buffer: UnsafeMutablePointer<Candidate>
    ) {
        for j in 0..<k {
            let candidate = Candidate(key: sign * row[j], index: Int32(j))
            var position = j
            while position > 0 && Self.better(candidate, buffer[position - 1]) {
                buffer[position] = buffer[position - 1]
                position -= 1
            }
            buffer[position] = candidate
        }
        var threshold = buffer[k - 1].key
        var limit = FloatVector(repeating: threshold)
        let signs = FloatVector(repeating: sign)

        // An element enters when it beats the worst kept one: a larger key, or any number while the worst is NaN
        // (a later index never wins a tie).
        @inline(__always) func admit(_ keys: FloatVector, start: Int, lanes: Int) {
            for lane in 0..<lanes {
                let key = keys[lane]
                guard key > threshold || (threshold.isNaN && !key.isNaN) else { continue }
                let candidate = Candidate(key: key, index: Int32(start + lane))
                var position = k - 1
                while position > 0 && Self.better(candidate, buffer[position - 1]) {
                    buffer[position] = buffer[position - 1]
                    position -= 1
                }
                buffer[position] = candidate
                threshold = buffer[k - 1].key
                limit = FloatVector(repeating: threshold)
            }
        }

        var j = k
        while j + 8 <= count {
            let keys = signs * FloatVector(loading: row + j)
            if threshold.isNaN || any(keys .> limit) { admit(keys, start: j, lanes: 8) }
            j += 8
        }
        if j < count {
            admit(signs * FloatVector(loading: row + j, count: count - j), start: j, lanes: count - j)
        }
        for r in 0..<k {
            values[r] = row[Int(buffer[r].index)]
            indices[r] = Int64(buffer[r].index)
        }
    }

    /// A key about 3k elements of the row beat: the matching rank among `capacity` evenly spaced elements. Nil when
    /// that key is NaN.
    private func estimate(
        _ row: UnsafePointer<Float>, count: Int, sign: Float, buffer: UnsafeMutablePointer<Candidate>
    ) -> Float? {
        let samples = capacity
        for s in 0..<samples {
            let j = s * count / samples
            buffer[s] = Candidate(key: sign * row[j], index: Int32(j))
        }
        let rank = Swift.min(samples, Swift.max(1, (3 * k * samples + count - 1) / count))
        Self.partition(buffer, count: samples, keeping: rank)
        let key = buffer[rank - 1].key
        return key.isNaN ? nil : key
    }

    /// Adds to `buffer[0..<size]` the elements from `start` on whose key beats `threshold`, cutting the buffer back
    /// to the best k (and raising the threshold to the k-th best key) whenever it fills; returns the new size.
    ///
    /// Every element left out ranks after at least k candidates, provided that holds for `threshold` itself: it
    /// is the k-th best key of the candidates, or an estimate that the caller checks by the size returned.
    private func scan(
        _ row: UnsafePointer<Float>, count: Int, from start: Int, sign: Float,
        buffer: UnsafeMutablePointer<Candidate>, size initialSize: Int, threshold initialThreshold: Float
    ) -> Int {
        var size = initialSize
        var threshold = initialThreshold
        // A key equal to the threshold never enters: the candidate holding it has a lower index. With a NaN
        // threshold (NaNs among the k best) every number beats it, so everything is taken.
        var limit = FloatVector(repeating: threshold)
        var takeAll = threshold.isNaN
        let signs = FloatVector(repeating: sign)

        func admit(_ keys: FloatVector, start: Int, lanes: Int) {
            for lane in 0..<lanes where takeAll || keys[lane] > threshold {
                if size == capacity {
                    threshold = cut(buffer, size: size)
                    size = k
                    limit = FloatVector(repeating: threshold)
                    takeAll = threshold.isNaN
                    guard takeAll || keys[lane] > threshold else { continue }
                }
                buffer[size] = Candidate(key: keys[lane], index: Int32(start + lane))
                size += 1
            }
        }

        var j = start
        while j + 8 <= count {
            let keys = signs * FloatVector(loading: row + j)
            if takeAll || any(keys .> limit) { admit(keys, start: j, lanes: 8) }
            j += 8
        }
        if j < count {
            admit(signs * FloatVector(loading: row + j, count: count - j), start: j, lanes: count - j)
        }
        return size
    }

    /// Moves the best k of `buffer[0..<size]` to the front (in no order) and returns the k-th best key.
    private func cut(_ buffer: UnsafeMutablePointer<Candidate>, size: Int) -> Float {
        Self.partition(buffer, count: size, keeping: k)
        return buffer[k - 1].key
    }

    /// `a` ranks before `b`: a larger key, NaN last, then the lower index.
    @inline(__always)
    static func better(_ a: Candidate, _ b: Candidate) -> Bool {
        if a.key > b.key { return true }
        if a.key < b.key { return false }
        let (aNaN, bNaN) = (a.key.isNaN, b.key.isNaN)
        if aNaN != bNaN { return bNaN }
        return a.index < b.index
    }

    /// Rearranges `items[0..<count]` so the `kept` best come first and the `kept`-th best sits at `kept - 1`
    /// (quickselect with a median-of-three pivot; expected linear time).
    static func partition(_ items: UnsafeMutablePointer<Candidate>, count: Int, keeping kept: Int) {
        var low = 0, high = count - 1
        let target = kept - 1
        while high > low {
            if high - low < 16 {
                // Short ranges: insertion sort.
                for i in (low + 1)...high {
                    let item = items[i]
                    var h = i
                    while h > low && better(item, items[h - 1]) {
                        items[h] = items[h - 1]
                        h -= 1
                    }
                    items[h] = item
                }
                return
            }
            let middle = low + (high - low) / 2
            if better(items[middle], items[low]) { swap(items, middle, low) }
            if better(items[high], items[low]) { swap(items, high, low) }
            if better(items[high], items[middle]) { swap(items, high, middle) }
            let pivot = items[middle]
            // Hoare partition: better-than-pivot to the left, worse to the right.
            var i = low, h = high
            while i <= h {
                while better(items[i], pivot) { i += 1 }
                while better(pivot, items[h]) { h -= 1 }
                if i <= h {
                    swap(items, i, h)
                    i += 1
                    h -= 1
                }
            }
            if target <= h {
                high = h
            } else if target >= i {
                low = i
            } else {
                return
            }
        }
    }

    @inline(__always)
    private static func swap(_ items: UnsafeMutablePointer<Candidate>, _ a: Int, _ b: Int) {
        let t = items[a]
        items[a] = items[b]
        items[b] = t
    }
}
