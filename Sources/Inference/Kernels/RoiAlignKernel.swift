import Foundation

/// RoiAlign (opsets 10, 16): for each region of interest (rois [R, 4] as x1, y1, x2, y2 in input pixels × spatial_scale,
/// batch_indices [R]) an output_height × output_width map per channel of X [N, C, H, W], each bin the average (or max)
/// of sampling_ratio² bilinear samples (sampling_ratio 0: ceil(region / bins) per axis). Coordinates are shifted by
/// half a pixel (`coordinate_transformation_mode` half_pixel, the opset-16 default) or not (output_half_pixel, the only
/// form before 16, which also stretches regions to at least one pixel). Max mode takes the largest weighted corner of
/// the samples, as onnxruntime does. float32 or float64.
struct RoiAlignKernel: Kernel {
    let average: Bool
    let halfPixel: Bool
    let outputHeight: Int
    let outputWidth: Int
    let samplingRatio: Int
    let spatialScale: Double
    let label: String

    init(_ node: NodeDefinition) throws {
        try node.expectInputs(3)
        let a = node.attributes
        label = node.label
        let mode = try a.string("mode") ?? "avg"
        guard mode == "avg" || mode == "max" else { throw InferenceError.invalidModel("\(label): mode '\(mode)' is not avg or max") }
        average = mode == "avg"
        let transform = node.opsetVersion >= 16 ? try a.string("coordinate_transformation_mode") ?? "half_pixel" : "output_half_pixel"
        guard transform == "half_pixel" || transform == "output_half_pixel" else {
            throw InferenceError.invalidModel("\(label): coordinate_transformation_mode '\(transform)' is not half_pixel or output_half_pixel")
        }
        halfPixel = transform == "half_pixel"
        outputHeight = try a.int("output_height", default: 1)
        outputWidth = try a.int("output_width", default: 1)
        samplingRatio = try a.int("sampling_ratio", default: 0)
        spatialScale = Double(try a.float("spatial_scale", default: 1))
        guard outputHeight > 0, outputWidth > 0, samplingRatio >= 0, samplingRatio <= 1 << 10 else {
            throw InferenceError.invalidModel("\(label) needs positive output sizes and sampling_ratio ≥ 0")
        }
    }

    func run(_ io: NodeIO) throws {
        let x = try io.requiredInput(0), rois = try io.requiredInput(1)
        guard let batchIndices = try io.requiredInput(2).integers() else {
            throw InferenceError.invalidInput("\(label) batch_indices must be int64")
        }
        guard x.rank == 4, rois.rank == 2, rois.shape[1] == 4, rois.shape[0] == batchIndices.count,
              rois.elementType == x.elementType else {
            throw InferenceError.invalidInput("\(label) takes X [N, C, H, W], rois [R, 4] of X's type and batch_indices [R]; got \(x.shape), \(rois.shape), [\(batchIndices.count)]")
        }
        for index in batchIndices where !(0..<x.shape[0]).contains(index) {
            throw InferenceError.invalidInput("\(label) batch index \(index) is outside 0..<\(x.shape[0])")
        }
        let y = try io.output(0, x.elementType, [batchIndices.count, x.shape[1], outputHeight, outputWidth])
        switch x.elementType {
        case .float32: try align(Float.self, x, rois, batchIndices, y)
        case .float64: try align(Double.self, x, rois, batchIndices, y)
        default: throw InferenceError.invalidInput("\(label) takes float32 or float64, got \(x.elementType)")
        }
    }

    /// One bilinear sample: four positions in a plane and their weights (all 0 outside the image).
    private struct Sample {
        var positions: (Int, Int, Int, Int) = (0, 0, 0, 0)
        var weights: (Double, Double, Double, Double) = (0, 0, 0, 0)
    }

    private func sample(_ y: Double, _ x: Double, _ height: Int, _ width: Int) -> Sample {
        guard y >= -1, y <= Double(height), x >= -1, x <= Double(width) else { return Sample() }
        var (y, x) = (max(y, 0), max(x, 0))
        var yLow = Int(y), xLow = Int(x)
        let yHigh: Int, xHigh: Int
        if yLow >= height - 1 { yLow = height - 1; yHigh = yLow; y = Double(yLow) } else { yHigh = yLow + 1 }
        if xLow >= width - 1 { xLow = width - 1; xHigh = xLow; x = Double(xLow) } else { xHigh = xLow + 1 }
        let ly = y - Double(yLow), lx = x - Double(xLow), hy = 1 - ly, hx = 1 - lx
        return Sample(
            positions: (yLow * width + xLow, yLow * width + xHigh, yHigh * width + xLow, yHigh * width + xHigh),
            weights: (hy * hx, hy * lx, ly * hx, ly * lx))
    }

    private func align<T: BinaryFloatingPoint>(_: T.Type, _ x: Tensor, _ rois: Tensor, _ batchIndices: [Int], _ y: Tensor) throws {
        let (channels, height, width) = (x.shape[1], x.shape[2], x.shape[3])
        let data = x.elements(as: T.self), boxes = rois.elements(as: T.self), out = y.mutableElements(as: T.self)
        let offset = halfPixel ? 0.5 : 0
        let bins = outputHeight * outputWidth
        for (roi, batch) in batchIndices.enumerated() {
            let box = (0..<4).map { Double(boxes[roi * 4 + $0]) * spatialScale - offset }
            guard box.allSatisfy(\.isFinite) else { throw InferenceError.invalidInput("\(label): roi \(roi) is not finite") }
            var (roiWidth, roiHeight) = (box[2] - box[0], box[3] - box[1])
            if !halfPixel { (roiWidth, roiHeight) = (max(roiWidth, 1), max(roiHeight, 1)) }
            let binHeight = roiHeight / Double(outputHeight), binWidth = roiWidth / Double(outputWidth)
            let adaptive = (roiHeight / Double(outputHeight)).rounded(.up), adaptiveW = (roiWidth / Double(outputWidth)).rounded(.up)
            guard samplingRatio > 0 || (adaptive * adaptiveW <= Double(1 << 20) && adaptive > -1 && adaptiveW > -1) else {
                throw InferenceError.invalidInput("\(label): roi \(roi) needs more than 2^20 samples per bin")
            }
            let gridH = samplingRatio > 0 ? samplingRatio : Int(adaptive)
            let gridW = samplingRatio > 0 ? samplingRatio : Int(adaptiveW)
            let count = Double(max(gridH * gridW, 1))
            var samples: [Sample] = []
            samples.reserveCapacity(bins * max(gridH * gridW, 0))
            for ph in 0..<outputHeight {
                for pw in 0..<outputWidth {
                    for iy in 0..<max(gridH, 0) {
                        let yy = box[1] + Double(ph) * binHeight + (Double(iy) + 0.5) * binHeight / Double(gridH)
                        for ix in 0..<max(gridW, 0) {
                            let xx = box[0] + Double(pw) * binWidth + (Double(ix) + 0.5) * binWidth / Double(gridW)
                            samples.append(sample(yy, xx, height, width))
                        }
                    }
                }
            }
            let perBin = max(gridH, 0) * max(gridW, 0)
            for c in 0..<channels {
                let plane = (batch * channels + c) * height * width
                for bin in 0..<bins {
                    var value = 0.0
                    for (k, s) in samples[(bin * perBin)..<((bin + 1) * perBin)].enumerated() {
                        let v1 = s.weights.0 * Double(data[plane + s.positions.0])
                        let v2 = s.weights.1 * Double(data[plane + s.positions.1])
                        let v3 = s.weights.2 * Double(data[plane + s.positions.2])
                        let v4 = s.weights.3 * Double(data[plane + s.positions.3])
                        if average {
                            value += v1 + v2 + v3 + v4
                        } else {
                            let largest = max(v1, v2, v3, v4)
                            value = k == 0 ? largest : max(value, largest)
                        }
                    }
                    out[((roi * channels + c) * bins) + bin] = T(average ? value / count : value)
                }
            }
        }
    }
}
