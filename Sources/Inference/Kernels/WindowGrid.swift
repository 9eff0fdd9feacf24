/// The windows of a sliding window over one plane (all spatial axes of one channel) of any spatial rank, visited output
/// position by output position: the flat input offsets of the taps that read inside the input, and the tap count
/// AveragePool's `count_include_pad` divides by.
///
/// The general path of the pooling kernels; MaxPool's 1-D and 2-D fast paths stay in its kernel. A grid is an
/// immutable value; each call of `forEachWindow` keeps its own buffers, so threads may walk one grid at once.
struct WindowGrid: Sendable {
    let axes: [AxisWindow]
    /// Row-major strides of the input plane, one per axis.
    let inputStrides: [Int]
    /// Elements of one input plane.
    let inputVolume: Int
    /// Elements of one output plane.
    let outputVolume: Int

    init(_ axes: [AxisWindow]) {
        self.axes = axes
        var strides = [Int](repeating: 1, count: axes.count)
        for d in stride(from: axes.count - 2, through: 0, by: -1) { strides[d] = strides[d + 1] * axes[d + 1].input }
        inputStrides = strides
        inputVolume = axes.inputVolume
        outputVolume = axes.outputVolume
    }

    /// Calls `body(position, taps, paddedTaps)` for every output position in row-major order: `taps` holds the
    /// row-major input offsets (within the plane) of the window's taps that read inside the input, in row-major tap
    /// order, and is empty for a window wholly in padding (possible with `ceil_mode`); `paddedTaps` counts the taps
    /// inside the input plus its explicit padding. The buffer is valid during the call only.
    func forEachWindow(_ body: (_ position: Int, _ taps: UnsafeBufferPointer<Int>, _ paddedTaps: Int) -> Void) {
        let rank = axes.count
        // A window's valid taps are distinct input elements, so the plane's size bounds them.
        let capacity = Swift.max(1, Swift.min(inputVolume, axes.tapVolume))
        withUnsafeTemporaryAllocation(of: Int.self, capacity: capacity + 4 * rank) { buffer in
            let base = buffer.baseAddress!
            let taps = base, output = base + capacity, ranges = output + rank, tap = ranges + 2 * rank
            output.update(repeating: 0, count: rank)
            for position in 0..<outputVolume {
                var padded = 1, empty = false
                for d in 0..<rank {
                    let valid = axes[d].validTaps(output: output[d])
                    ranges[2 * d] = valid.lowerBound
                    ranges[2 * d + 1] = valid.upperBound
                    empty = empty || valid.isEmpty
                    padded *= axes[d].paddedTapCount(output: output[d])
                }
                var count = 0
                if !empty {
                    // Odometer over the taps of every axis but the last; the last one runs as a loop.
                    for d in 0..<rank { tap[d] = ranges[2 * d] }
                    let last = rank - 1, lastAxis = axes[last]
                    let lastStart = output[last] * lastAxis.stride - lastAxis.padBegin
                    walk: while true {
                        var offset = 0
                        for d in 0..<last {
                            offset += (output[d] * axes[d].stride - axes[d].padBegin + tap[d] * axes[d].dilation)
                                * inputStrides[d]
                        }
                        for k in ranges[2 * last]..<ranges[2 * last + 1] {
                            taps[count] = offset + lastStart + k * lastAxis.dilation
                            count += 1
                        }
                        var d = last - 1
                        while d >= 0 {
                            tap[d] += 1
                            if tap[d] < ranges[2 * d + 1] { continue walk }
                            tap[d] = ranges[2 * d]
                            d -= 1
                        }
                        break
                    }
                }
                body(position, UnsafeBufferPointer(start: taps, count: count), padded)
                var d = rank - 1
                while d >= 0 {
                    output[d] += 1
                    if output[d] < axes[d].output { break }
                    output[d] = 0
                    d -= 1
                }
            }
        }
    }

    /// The column-major (first axis fastest) offset of the element at row-major `offset` in the input plane:
    /// MaxPool's indices with `storage_order` 1.
    func columnMajor(_ offset: Int) -> Int {
        var rest = offset, result = 0, stride = 1
        for d in 0..<axes.count {
            result += (rest / inputStrides[d]) * stride
            rest %= inputStrides[d]
            stride *= axes[d].input
        }
        return result
    }
}
