/// How a Conv or pooling node pads its input (`auto_pad`).
enum AutoPad: String, Sendable {
    case notSet = "NOTSET"
    case sameUpper = "SAME_UPPER"
    case sameLower = "SAME_LOWER"
    case valid = "VALID"
}

/// The sliding-window attributes Conv, MaxPool, AveragePool and LpPool share, read and checked when the model loads;
/// any number of spatial axes.
///
/// Sizes the model gives (kernel, stride, dilation, pads) are bounded by `attributeLimit` so that window arithmetic on
/// request-sized inputs (at most 2^48 per dimension) cannot overflow.
struct WindowAttributes: Sendable {
    /// Largest kernel size, stride, dilation or pad a model may set.
    static let attributeLimit = 1 << 24

    let kernelShape: [Int]?
    let strides: [Int]?
    let dilations: [Int]?
    /// ONNX order: all begins, then all ends.
    let pads: [Int]?
    let autoPad: AutoPad
    let ceilMode: Bool
    /// The number of spatial axes the attributes fix, when any of them is set.
    let spatialRank: Int?

    /// Reads `kernel_shape`, `strides`, `pads`, `auto_pad`, and `dilations` / `ceil_mode` when the operator has them.
    init(_ node: NodeDefinition, readsDilations: Bool, readsCeilMode: Bool, requiresKernelShape: Bool) throws {
        let attributes = node.attributes
        kernelShape = try attributes.ints("kernel_shape")
        strides = try attributes.ints("strides")
        pads = try attributes.ints("pads")
        dilations = readsDilations ? try attributes.ints("dilations") : nil
        ceilMode = readsCeilMode ? try attributes.int("ceil_mode", default: 0) != 0 : false
        let autoPadName = try attributes.string("auto_pad") ?? "NOTSET"
        guard let autoPad = AutoPad(rawValue: autoPadName) else {
            throw InferenceError.invalidModel("\(node.label): unknown auto_pad '\(autoPadName)'")
        }
        self.autoPad = autoPad
        if requiresKernelShape && kernelShape == nil {
            throw InferenceError.invalidModel("\(node.label) has no kernel_shape attribute")
        }
        if ceilMode && autoPad != .notSet {
            throw InferenceError.unsupported(["\(node.opType) ceil_mode with auto_pad \(autoPad.rawValue)"])
        }

        var rank: Int?
        func agree(_ count: Int, _ name: String) throws {
            if let rank, rank != count {
                throw InferenceError.invalidModel("\(node.label): \(name) does not match the other window attributes")
            }
            rank = count
        }
        if let kernelShape { try agree(kernelShape.count, "kernel_shape") }
        if let strides { try agree(strides.count, "strides") }
        if let dilations { try agree(dilations.count, "dilations") }
        if let pads {
            guard pads.count % 2 == 0 else { throw InferenceError.invalidModel("\(node.label): pads has an odd length") }
            try agree(pads.count / 2, "pads")
        }
        spatialRank = rank
        if let rank, rank < 1 {
            throw InferenceError.invalidModel("\(node.label): the window attributes name no spatial axis")
        }

        let limit = Self.attributeLimit
        for (name, values, minimum) in [("kernel_shape", kernelShape, 1), ("strides", strides, 1),
                                        ("dilations", dilations, 1), ("pads", pads, 0)] {
            if let values, !values.allSatisfy({ $0 >= minimum && $0 <= limit }) {
                throw InferenceError.invalidModel("\(node.label): \(name) \(values) out of range \(minimum)...\(limit)")
            }
        }
    }

    /// The per-axis geometry for an input of `spatialShape` (any number of axes) and a kernel of `kernel` (one size
    /// per axis).
    func axes(spatialShape: [Int], kernel: [Int]) throws(InferenceError) -> [AxisWindow] {
        let rank = spatialShape.count
        guard rank >= 1 else { throw InferenceError.invalidInput("a sliding window needs at least one spatial axis") }
        if let spatialRank, spatialRank != rank {
            throw InferenceError.invalidInput(
                "the window attributes have \(spatialRank) spatial axes, the input \(rank)")
        }
        guard kernel.count == rank else {
            throw InferenceError.invalidInput("the kernel has \(kernel.count) spatial axes, the input \(rank)")
        }
        var axes: [AxisWindow] = []
        for axis in 0..<rank {
            axes.append(try AxisWindow(
                input: spatialShape[axis], kernel: kernel[axis], stride: strides?[axis] ?? 1,
                dilation: dilations?[axis] ?? 1, padBegin: pads?[axis] ?? 0, padEnd: pads?[rank + axis] ?? 0,
                autoPad: autoPad, ceilMode: ceilMode))
        }
        return axes
    }
}

extension [AxisWindow] {
    /// The axes as the 2-D fast paths see them: the last two as height and width (a single axis is a height-1
    /// image), and the leading ones (a 3-D window's depth, …) as `outer`.
    var planeSplit: (outer: ArraySlice<AxisWindow>, height: AxisWindow, width: AxisWindow) {
        if count == 1 { return ([], AxisWindow.unit, self[0]) }
        return (self[..<(count - 2)], self[count - 2], self[count - 1])
    }

    /// Input elements of one plane (all spatial axes).
    var inputVolume: Int { reduce(1) { $0 * $1.input } }

    /// Output elements of one plane (all spatial axes).
    var outputVolume: Int { reduce(1) { $0 * $1.output } }

    /// Taps of one window (all spatial axes), saturating at `Int.max`: pooling kernel sizes come from the model and
    /// may multiply past it.
    var tapVolume: Int {
        var volume = 1
        for axis in self {
            let (product, overflow) = volume.multipliedReportingOverflow(by: axis.kernel)
            if overflow { return .max }
            volume = product
        }
        return volume
    }
}

/// One spatial axis of a sliding window: sizes, the padding in effect and the output length.
struct AxisWindow: Sendable, Equatable {
    let input: Int
    let kernel: Int
    let stride: Int
    let dilation: Int
    let padBegin: Int
    /// Explicit (or automatic) end padding; with `ceil_mode` the last window may reach beyond it.
    let padEnd: Int
    let output: Int

    /// The trivial axis a 1-D input gets as its height.
    static let unit = AxisWindow(input: 1, kernel: 1, stride: 1, dilation: 1, padBegin: 0, padEnd: 0, output: 1)

    init(input: Int, kernel: Int, stride: Int, dilation: Int, padBegin: Int, padEnd: Int, output: Int) {
        self.input = input
        self.kernel = kernel
        self.stride = stride
        self.dilation = dilation
        self.padBegin = padBegin
        self.padEnd = padEnd
        self.output = output
    }

    /// Works out the padding and output length. `kernel` may come from a request (a Conv weight given as an input),
    /// so every product is overflow-checked.
    init(input: Int, kernel: Int, stride: Int, dilation: Int, padBegin: Int, padEnd: Int, autoPad: AutoPad, ceilMode: Bool) throws(InferenceError) {
        guard kernel >= 1 else { throw InferenceError.invalidInput("kernel size \(kernel) must be positive") }
        let (span, overflow) = (kernel - 1).multipliedReportingOverflow(by: dilation)
        guard !overflow, span < [Int].maximumShapeVolume else {
            throw InferenceError.invalidInput("kernel size \(kernel) with dilation \(dilation) is too large")
        }
        let extent = span + 1
        var begin = padBegin, end = padEnd
        let output: Int
        switch autoPad {
        case .notSet:
            let room = input + begin + end - extent
            guard room >= 0 else {
                throw InferenceError.invalidInput(
                    "input size \(input) with pads \(begin)+\(end) is smaller than the window \(extent)")
            }
            if ceilMode {
                var count = (room + stride - 1) / stride + 1
                // The last window must start inside the input or its leading padding.
                if (count - 1) * stride >= input + begin { count -= 1 }
                output = count
            } else {
                output = room / stride + 1
            }
        case .valid:
            guard input >= extent else {
                throw InferenceError.invalidInput("input size \(input) is smaller than the window \(extent)")
            }
            begin = 0
            end = 0
            output = (input - extent) / stride + 1
        case .sameUpper, .sameLower:
            output = (input + stride - 1) / stride
            let total = Swift.max(0, (output - 1) * stride + extent - input)
            let small = total / 2
            (begin, end) = autoPad == .sameUpper ? (small, total - small) : (total - small, small)
        }
        self.init(input: input, kernel: kernel, stride: stride, dilation: dilation, padBegin: begin, padEnd: end,
                  output: output)
    }

    /// True when every window lies wholly inside the input: no padding is ever read.
    var isInterior: Bool {
        padBegin == 0 && (output - 1) * stride + (kernel - 1) * dilation < input
    }

    /// True when every window position reads the input one to one (kernel 1, stride 1, no padding).
    var isIdentity: Bool { kernel == 1 && stride == 1 && padBegin == 0 && output == input }

    /// Output positions `o` whose tap at `offset` (= tap · dilation − padBegin) reads inside the input:
    /// 0 ≤ o · stride + offset < input.
    @inline(__always)
    func validOutputs(tapOffset offset: Int) -> Range<Int> {
        let low = offset >= 0 ? 0 : (-offset + stride - 1) / stride
        let last = input - 1 - offset
        guard last >= 0 else { return 0..<0 }
        let high = Swift.min(output, last / stride + 1)
        return Swift.min(low, high)..<high
    }

    /// Taps `k` of the window at output `o` that read inside the input: 0 ≤ o · stride − padBegin + k · dilation < input.
    @inline(__always)
    func validTaps(output o: Int) -> Range<Int> {
        let start = o * stride - padBegin
        if dilation == 1 {
            // The common case, without divisions: this runs once per output position.
            let low = Swift.max(0, -start), high = Swift.min(kernel, input - start)
            return low < high ? low..<high : 0..<0
        }
        let low = start >= 0 ? 0 : (-start + dilation - 1) / dilation
        let last = input - 1 - start
        guard last >= 0 else { return 0..<0 }
        let high = Swift.min(kernel, last / dilation + 1)
        return Swift.min(low, high)..<high
    }

    /// Taps of the window at output `o` inside the input plus its explicit padding (AveragePool's count_include_pad
    /// divisor): o · stride − padBegin + k · dilation < input + padEnd.
    @inline(__always)
    func paddedTapCount(output o: Int) -> Int {
        let start = o * stride - padBegin
        let limit = input + padEnd - start
        guard limit > 0 else { return 0 }
        return dilation == 1 ? Swift.min(kernel, limit) : Swift.min(kernel, (limit - 1) / dilation + 1)
    }
}
