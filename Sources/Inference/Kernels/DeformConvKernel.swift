import Foundation

/// DeformConv (opsets 19, 22), 2-D: a convolution whose taps sample X [N, C, H, W] at positions moved by `offset`
/// [N, offset_group·kH·kW·2, oH, oW] (dy, dx per tap) with bilinear interpolation (zero outside the image), each
/// sample scaled by `mask` [N, offset_group·kH·kW, oH, oW] (ones when absent); then W [M, C/group, kH, kW] and the
/// bias B [M]. Built as deformable im2col (one column per output position) and one BLAS product per group. float32 or
/// float64.
struct DeformConvKernel: Kernel {
    let group: Int
    let offsetGroup: Int
    let kernelShape: [Int]?
    let dilations: [Int]
    let pads: [Int]
    let strides: [Int]
    let label: String

    init(_ node: NodeDefinition) throws {
        try node.expectInputs(3, 5)
        let a = node.attributes
        label = node.label
        group = try a.int("group", default: 1)
        offsetGroup = try a.int("offset_group", default: 1)
        kernelShape = try a.ints("kernel_shape")
        dilations = try a.ints("dilations") ?? [1, 1]
        pads = try a.ints("pads") ?? [0, 0, 0, 0]
        strides = try a.ints("strides") ?? [1, 1]
        guard group >= 1, offsetGroup >= 1, dilations.count == 2, pads.count == 4, strides.count == 2,
              (dilations + strides).allSatisfy({ (1...(1 << 20)).contains($0) }), pads.allSatisfy({ (0...(1 << 20)).contains($0) }),
              kernelShape.map({ $0.count == 2 && $0.allSatisfy { $0 >= 1 } }) ?? true else {
            throw InferenceError.invalidModel("\(label): DeformConv runs 2-D windows; attributes must describe one")
        }
    }

    func run(_ io: NodeIO) throws {
        let x = try io.requiredInput(0), w = try io.requiredInput(1), offset = try io.requiredInput(2)
        guard x.rank == 4, w.rank == 4, offset.rank == 4 else {
            throw InferenceError.invalidInput("\(label) takes X [N, C, H, W], W [M, C/group, kH, kW] and offset of rank 4")
        }
        let (n, channels, height, width) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let (maps, kh, kw) = (w.shape[0], w.shape[2], w.shape[3])
        let (oh, ow) = (offset.shape[2], offset.shape[3])
        let taps = kh * kw
        guard kernelShape == nil || kernelShape! == [kh, kw], channels == w.shape[1] * group, maps % group == 0,
              channels % offsetGroup == 0, offset.shape[0] == n, offset.shape[1] == offsetGroup * taps * 2,
              oh == (height + pads[0] + pads[2] - ((kh - 1) * dilations[0] + 1)) / strides[0] + 1,
              ow == (width + pads[1] + pads[3] - ((kw - 1) * dilations[1] + 1)) / strides[1] + 1,
              [w, offset].allSatisfy({ $0.elementType == x.elementType })
        else {
            throw InferenceError.invalidInput(
                "\(label): X \(x.shape), W \(w.shape) and offset \(offset.shape) do not fit group \(group), offset_group \(offsetGroup), pads \(pads), strides \(strides), dilations \(dilations)")
        }
        let bias = io.input(3).flatMap { $0.count > 0 ? $0 : nil }
        let mask = io.input(4).flatMap { $0.count > 0 ? $0 : nil }
        if let bias, bias.shape != [maps] || bias.elementType != x.elementType {
            throw InferenceError.invalidInput("\(label): B must be [\(maps)] of \(x.elementType), got \(bias.shape)")
        }
        if let mask, mask.shape != [n, offsetGroup * taps, oh, ow] || mask.elementType != x.elementType {
            throw InferenceError.invalidInput("\(label): mask must be [\(n), \(offsetGroup * taps), \(oh), \(ow)], got \(mask.shape)")
        }
        let y = try io.output(0, x.elementType, [n, maps, oh, ow])
        switch x.elementType {
        case .float32: try convolve(Float.self, x, w, offset, bias, mask, y, io)
        case .float64: try convolve(Double.self, x, w, offset, bias, mask, y, io)
        default: throw InferenceError.invalidInput("\(label) takes float32 or float64, got \(x.elementType)")
        }
    }

    private func convolve<T: GEMMScalar>(
        _: T.Type, _ x: Tensor, _ w: Tensor, _ offset: Tensor, _ bias: Tensor?, _ mask: Tensor?, _ y: Tensor, _ io: NodeIO
    ) throws {
        let (n, channels, height, width) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let (maps, kh, kw) = (w.shape[0], w.shape[2], w.shape[3])
        let (oh, ow) = (y.shape[2], y.shape[3])
        let (taps, positions) = (kh * kw, oh * ow)
        let (groupChannels, groupMaps) = (channels / group, maps / group)
        let channelsPerOffsetGroup = channels / offsetGroup
        let depth = groupChannels * taps
        let columns = try io.scratch(T.self, count: depth * positions)
        let data = x.elements(as: T.self), moves = offset.elements(as: T.self), weights = w.elements(as: T.self)
        let scales = mask?.elements(as: T.self)
        let out = y.mutableElements(as: T.self)
        for image in 0..<n {
            for g in 0..<group {
                // Deformable im2col: row (channel, tap), column (output position).
                for c in 0..<groupChannels {
                    let channel = g * groupChannels + c
                    let og = channel / channelsPerOffsetGroup
                    let plane = (image * channels + channel) * height * width
                    for tap in 0..<taps {
                        let (ky, kx) = (tap / kw, tap % kw)
                        let moveBase = ((image * offsetGroup + og) * taps + tap) * 2 * positions
                        let maskBase = ((image * offsetGroup + og) * taps + tap) * positions
                        let row = columns + (c * taps + tap) * positions
                        for i in 0..<oh {
                            for j in 0..<ow {
                                let p = i * ow + j
                                let sy = Double(i * strides[0] - pads[0] + ky * dilations[0]) + Double(moves[moveBase + p])
                                let sx = Double(j * strides[1] - pads[1] + kx * dilations[1]) + Double(moves[moveBase + positions + p])
                                var value = Self.bilinear(data, plane, height, width, sy, sx)
                                if let scales { value *= Double(scales[maskBase + p]) }
                                row[p] = T(value)
                            }
                        }
                    }
                }
                T.gemm(
                    m: groupMaps, n: positions, k: depth, alpha: 1,
                    a: weights.baseAddress! + g * groupMaps * depth, lda: depth, b: columns, ldb: positions,
                    transposeB: false, c: out.baseAddress! + (image * maps + g * groupMaps) * positions, ldc: positions)
            }
            if let bias {
                let b = bias.elements(as: T.self)
                for m in 0..<maps { for p in 0..<positions { out[(image * maps + m) * positions + p] += b[m] } }
            }
        }
    }

    /// X's plane at (y, x) by bilinear interpolation; corners outside the image count as 0.
    private static func bilinear<T: BinaryFloatingPoint>(
        _ data: UnsafeBufferPointer<T>, _ plane: Int, _ height: Int, _ width: Int, _ y: Double, _ x: Double
    ) -> Double {
        guard y > -1, y < Double(height), x > -1, x < Double(width) else { return 0 }
        let (y0, x0) = (Int(Foundation.floor(y)), Int(Foundation.floor(x)))
        let (ly, lx) = (y - Double(y0), x - Double(x0))
        func at(_ row: Int, _ column: Int) -> Double {
            guard row >= 0 && row < height && column >= 0 && column < width else { return 0 }
            return Double(data[plane + row * width + column])
        }
        let value = (1 - ly) * ((1 - lx) * at(y0, x0) + lx * at(y0, x0 + 1))
            + ly * ((1 - lx) * at(y0 + 1, x0) + lx * at(y0 + 1, x0 + 1))
        return value
    }
}
