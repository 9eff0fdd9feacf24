import Foundation

/// Resize (opset ≥ 11) and Upsample (opsets 1–9) on float32, float64, float16, int8, uint8, int32 and int64: each
/// resized axis in turn, every output coordinate a weighted sum of nearby input elements (separable interpolation,
/// computed in double precision and rounded back; integers round half to even and saturate).
///
/// Resize follows `mode` (nearest, linear, cubic), `coordinate_transformation_mode` (half_pixel, half_pixel_symmetric,
/// pytorch_half_pixel, align_corners, asymmetric, tf_crop_and_resize with `roi` and `extrapolation_value`),
/// `nearest_mode`, `cubic_coeff_a`, `exclude_outside`, `antialias` (linear and cubic filters widened when shrinking),
/// `axes` and `keep_aspect_ratio_policy`; sizes come from `scales` (floor(scale · in)) or `sizes`. Upsample is nearest
/// (floor) or linear interpolation with asymmetric coordinates. Resize-10 is refused (its nearest rounding differs).
struct ResizeKernel: Kernel {
    enum Mode: String { case nearest, linear, cubic }
    enum Coordinates: String {
        case halfPixel = "half_pixel", halfPixelSymmetric = "half_pixel_symmetric"
        case pytorchHalfPixel = "pytorch_half_pixel", alignCorners = "align_corners", asymmetric
        case tfCropAndResize = "tf_crop_and_resize"
    }
    enum NearestRounding: String {
        case roundPreferFloor = "round_prefer_floor", roundPreferCeil = "round_prefer_ceil", floor, ceil
    }
    enum AspectPolicy: String { case stretch, notLarger = "not_larger", notSmaller = "not_smaller" }

    let mode: Mode
    let coordinates: Coordinates
    let rounding: NearestRounding
    let cubicA: Double
    let excludeOutside: Bool
    let extrapolation: Double
    let antialias: Bool
    let aspect: AspectPolicy
    let axes: [Int]?
    /// Upsample-1/7: scales from attributes (nil: an input).
    let attributeScales: [Double]?
    /// Where the roi, scales and sizes inputs are (nil when the form has none).
    let roiInput: Int?, scalesInput: Int?, sizesInput: Int?
    let opType: String

    init(upsample: Bool, _ node: NodeDefinition) throws {
        let attributes = node.attributes
        opType = node.opType
        let modeName = try attributes.string("mode") ?? "nearest"
        if upsample {
            guard let mode = modeName == "bilinear" ? .linear : Mode(rawValue: modeName), mode != .cubic else {
                throw InferenceError.unsupported(["\(node.label): mode '\(modeName)'"])
            }
            self.mode = mode
            (coordinates, rounding, cubicA, excludeOutside, extrapolation) = (.asymmetric, .floor, -0.75, false, 0)
            (antialias, aspect, axes) = (false, .stretch, nil)
            if node.opsetVersion >= 9 {
                try node.expectInputs(2)
                (attributeScales, roiInput, scalesInput, sizesInput) = (nil, nil, 1, nil)
            } else if node.opsetVersion >= 7 {
                try node.expectInputs(1)
                guard let scales = try attributes.floats("scales") else {
                    throw InferenceError.invalidModel("\(node.label) has no scales attribute")
                }
                (attributeScales, roiInput, scalesInput, sizesInput) = (scales.map(Double.init), nil, nil, nil)
            } else {
                try node.expectInputs(1)
                let height = Double(try attributes.float("height_scale", default: 1))
                let width = Double(try attributes.float("width_scale", default: 1))
                (attributeScales, roiInput, scalesInput, sizesInput) = ([1, 1, height, width], nil, nil, nil)
            }
            return
        }
        guard node.opsetVersion >= 11 else {
            throw InferenceError.unsupported(["\(node.label): Resize version 10 (the model imports opset \(node.opsetVersion))"])
        }
        try node.expectInputs(1, 4)
        guard let mode = Mode(rawValue: modeName) else { throw InferenceError.unsupported(["\(node.label): mode '\(modeName)'"]) }
        self.mode = mode
        func choice<T: RawRepresentable>(_ name: String, _ fallback: T) throws -> T where T.RawValue == String {
            guard let value = try attributes.string(name) else { return fallback }
            guard let parsed = T(rawValue: value) else { throw InferenceError.unsupported(["\(node.label): \(name) '\(value)'"]) }
            return parsed
        }
        coordinates = try choice("coordinate_transformation_mode", .halfPixel)
        rounding = try choice("nearest_mode", .roundPreferFloor)
        aspect = try choice("keep_aspect_ratio_policy", .stretch)
        cubicA = Double(try attributes.float("cubic_coeff_a", default: -0.75))
        excludeOutside = try attributes.int("exclude_outside", default: 0) != 0
        extrapolation = Double(try attributes.float("extrapolation_value", default: 0))
        antialias = try attributes.int("antialias", default: 0) != 0
        if antialias && mode == .nearest { throw InferenceError.unsupported(["\(node.label): antialias with mode nearest"]) }
        axes = try attributes.ints("axes")
        (attributeScales, roiInput, scalesInput, sizesInput) = (nil, 1, 2, 3)
    }

    func run(_ io: NodeIO) throws {
        let x = try io.requiredInput(0)
        let rank = x.rank
        let axes = try self.axes.map { try normalizedAxes($0, rank: rank) } ?? Array(0..<rank)
        var scales = [Double](repeating: 1, count: rank)
        var sizes = x.shape
        func spread<T>(_ values: [T], _ name: String, into target: inout [T]) throws {
            guard values.count == axes.count || (self.axes == nil && values.count == rank) else {
                throw InferenceError.invalidInput("\(opType) \(name) has \(values.count) values for \(axes.count) axes")
            }
            for (position, axis) in axes.enumerated() { target[axis] = values[position] }
        }
        let givenScales = try attributeScales ?? scalesInput.flatMap { io.input($0) }.flatMap { try $0.count > 0 ? Self.doubles($0, "scales") : nil }
        if let givenScales {
            try spread(givenScales, "scales", into: &scales)
            guard scales.allSatisfy({ $0 > 0 && $0.isFinite }) else { throw InferenceError.invalidInput("\(opType) scales \(givenScales) must be positive") }
            for axis in axes { sizes[axis] = Int((scales[axis] * Double(x.shape[axis])).rounded(.towardZero)) }
        } else if let tensor = sizesInput.flatMap({ io.input($0) }), tensor.count > 0 {
            try spread(try tensor.integerList("\(opType) sizes"), "sizes", into: &sizes)
            guard sizes.allSatisfy({ $0 >= 0 }) else { throw InferenceError.invalidInput("\(opType) sizes \(sizes) are negative") }
            for axis in axes { scales[axis] = Double(sizes[axis]) / Double(x.shape[axis]) }
            if aspect != .stretch {
                let chosen = axes.map { scales[$0] }
                let scale = (aspect == .notLarger ? chosen.min() : chosen.max()) ?? 1
                for axis in axes {
                    scales[axis] = scale
                    sizes[axis] = Int(scale * Double(x.shape[axis]) + 0.5)
                }
            }
        } else {
            throw InferenceError.invalidInput("\(opType) needs scales or sizes")
        }
        try sizes.validateShape()
        var roi = [Double](repeating: 0, count: rank) + [Double](repeating: 1, count: rank)
        if coordinates == .tfCropAndResize, let tensor = roiInput.flatMap({ io.input($0) }), tensor.count > 0 {
            let values = try Self.doubles(tensor, "roi")
            guard values.count == 2 * axes.count || (self.axes == nil && values.count == 2 * rank) else {
                throw InferenceError.invalidInput("\(opType) roi has \(values.count) values for \(axes.count) axes")
            }
            for (position, axis) in axes.enumerated() {
                roi[axis] = values[position]
                roi[rank + axis] = values[axes.count + position]
            }
        }
        let y = try io.output(0, x.elementType, sizes)
        guard y.count > 0 else { return }
        var shape = x.shape
        var data = try Self.read(x)
        for axis in axes {
            let identity = abs(scales[axis] - 1) < 1e-9 && sizes[axis] == shape[axis] && roi[axis] == 0 && roi[rank + axis] == 1
            if identity { continue }
            guard shape[axis] > 0 else { throw InferenceError.invalidInput("\(opType) cannot resize an empty axis of \(x.shape)") }
            data = resample(data, shape: shape, axis: axis, output: sizes[axis], scale: scales[axis],
                            roi: (roi[axis], roi[rank + axis]))
            shape[axis] = sizes[axis]
        }
        try Self.write(data, to: y)
    }

    /// One axis resized: `output` coordinates, each the weighted sum of its taps along `axis`.
    private func resample(
        _ data: [Double], shape: [Int], axis: Int, output: Int, scale: Double, roi: (Double, Double)
    ) -> [Double] {
        let width = shape[axis]
        let outer = shape[..<axis].reduce(1, *), inner = shape[(axis + 1)...].reduce(1, *)
        var result = [Double](repeating: 0, count: outer * output * inner)
        let taps = (0..<output).map { self.taps(for: $0, width: width, output: output, scale: scale, roi: roi) }
        for o in 0..<outer {
            for (j, tap) in taps.enumerated() {
                let to = (o * output + j) * inner
                guard let tap else {
                    for i in 0..<inner { result[to + i] = extrapolation }
                    continue
                }
                for (index, weight) in zip(tap.indexes, tap.weights) where weight != 0 {
                    let from = (o * width + index) * inner
                    for i in 0..<inner { result[to + i] += weight * data[from + i] }
                }
            }
        }
        return result
    }

    /// The input indexes and weights output coordinate `y` reads; nil when it lies outside the crop (extrapolated).
    private func taps(for y: Int, width: Int, output: Int, scale: Double, roi: (Double, Double)) -> (indexes: [Int], weights: [Double])? {
        let yd = Double(y), inWidth = Double(width)
        let scaledWidth = scale * inWidth
        let source: Double
        switch coordinates {
        case .alignCorners: source = scaledWidth == 1 ? 0 : yd * (inWidth - 1) / (scaledWidth - 1)
        case .asymmetric: source = yd / scale
        case .pytorchHalfPixel: source = scaledWidth == 1 ? -0.5 : (yd + 0.5) / scale - 0.5
        case .halfPixel: source = (yd + 0.5) / scale - 0.5
        case .halfPixelSymmetric:
            let offset = inWidth / 2 * (1 - Double(output) / scaledWidth)
            source = offset + (yd + 0.5) / scale - 0.5
        case .tfCropAndResize:
            let start = roi.0 * (inWidth - 1)
            source = scaledWidth == 1
                ? start + (roi.1 - roi.0) * (inWidth - 1) / 2
                : start + yd * (roi.1 - roi.0) * (inWidth - 1) / (scaledWidth - 1)
            if source < 0 || source > inWidth - 1 { return nil }
        }
        let whole = source.rounded(.down)
        // The fraction is taken in (0, 1]: an exact coordinate leans on the pixel to its left.
        let ratio = source == whole ? 1 : source - whole
        var weights = coefficients(ratio, scale)
        let n = weights.count
        let padWidth = (n + 1) / 2
        let padded = source + Double(padWidth)
        let floorPadded = padded.rounded(.down)
        let fraction = padded - floorPadded
        let offset = n % 2 == 0
            ? (fraction == 0 ? -(n / 2) : -(n / 2) + 1)
            : (fraction <= 0.5 ? -((n - 1) / 2) : -((n - 1) / 2) + 1)
        let start = Int(floorPadded) + offset - padWidth
        let indexes = (0..<n).map { start + $0 }
        if excludeOutside {
            for (k, index) in indexes.enumerated() where index < 0 || index >= width { weights[k] = 0 }
            let sum = weights.reduce(0, +)
            if sum != 0 { weights = weights.map { $0 / sum } }
        }
        return (indexes.map { Swift.min(Swift.max($0, 0), width - 1) }, weights)
    }

    /// The filter weights for a coordinate `ratio` ∈ (0, 1] past its left pixel.
    private func coefficients(_ ratio: Double, _ scale: Double) -> [Double] {
        switch mode {
        case .nearest:
            if ratio == 1 { return [0, 1] }
            switch rounding {
            case .roundPreferFloor: return ratio <= 0.5 ? [1, 0] : [0, 1]
            case .roundPreferCeil: return ratio < 0.5 ? [1, 0] : [0, 1]
            case .floor: return [1, 0]
            case .ceil: return [0, 1]
            }
        case .linear:
            guard antialias else { return [1 - ratio, ratio] }
            let s = Swift.min(scale, 1)
            let start = Int((-1 / s).rounded(.down)) + 1
            let weights = (start..<(start + 2 - 2 * start)).map { Swift.min(Swift.max(1 - abs((Double($0) - ratio) * s), 0), 1) }
            let sum = weights.reduce(0, +)
            return weights.map { $0 / sum }
        case .cubic:
            let a = cubicA
            func cubic(_ t: Double) -> Double {
                let x = abs(t)
                if x <= 1 { return ((a + 2) * x - (a + 3)) * x * x + 1 }
                if x < 2 { return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a }
                return 0
            }
            guard antialias else { return [cubic(ratio + 1), cubic(ratio), cubic(1 - ratio), cubic(2 - ratio)] }
            let s = Swift.min(scale, 1)
            let start = Int((-2 / s).rounded(.down)) + 1
            let weights = (start..<(2 - start)).map { cubic(s * (Double($0) - ratio)) }
            let sum = weights.reduce(0, +)
            return weights.map { $0 / sum }
        }
    }

    private static func doubles(_ tensor: Tensor, _ name: String) throws -> [Double] {
        switch tensor.elementType {
        case .float32: return tensor.elements(as: Float.self).map(Double.init)
        case .float64: return Array(tensor.elements(as: Double.self))
        case .float16: return tensor.elements(as: Float16.self).map(Double.init)
        default: throw InferenceError.invalidInput("Resize \(name) must be a float tensor, got \(tensor.elementType)")
        }
    }

    private static func read(_ x: Tensor) throws -> [Double] {
        switch x.elementType {
        case .float32, .float64, .float16: return try doubles(x, "input")
        case .int8: return x.elements(as: Int8.self).map(Double.init)
        case .uint8: return x.elements(as: UInt8.self).map(Double.init)
        case .int32: return x.elements(as: Int32.self).map(Double.init)
        case .int64: return x.elements(as: Int64.self).map(Double.init)
        default: throw InferenceError.invalidInput("Resize does not take \(x.elementType)")
        }
    }

    private static func write(_ values: [Double], to y: Tensor) throws {
        func integers<T: FixedWidthInteger>(_: T.Type) {
            let out = y.mutableElements(as: T.self)
            for i in 0..<values.count { out[i] = CastKernel.saturating(values[i].rounded(.toNearestOrEven), to: T.self) }
        }
        switch y.elementType {
        case .float32: let out = y.mutableElements(as: Float.self); for i in 0..<values.count { out[i] = Float(values[i]) }
        case .float64: let out = y.mutableElements(as: Double.self); for i in 0..<values.count { out[i] = values[i] }
        case .float16: let out = y.mutableElements(as: Float16.self); for i in 0..<values.count { out[i] = Float16(values[i]) }
        case .int8: integers(Int8.self)
        case .uint8: integers(UInt8.self)
        case .int32: integers(Int32.self)
        case .int64: integers(Int64.self)
        default: throw InferenceError.invalidInput("Resize does not take \(y.elementType)")
        }
    }
}
