import Foundation

/// Element-wise float activations that can run alone or fused into the producing kernel's output loop.
public enum Activation: String, Sendable, CaseIterable {
    case relu = "Relu"
    case sigmoid = "Sigmoid"
    case tanh = "Tanh"
    /// The exact (erf) Gelu. Only ever fused: a Gelu node of its own runs as a `UnaryKernel`, which also has the tanh
    /// approximation.
    case gelu = "Gelu"

    /// The ONNX operator name.
    public var opType: String { rawValue }

    /// The activations that are nodes of their own (`ActivationKernel`).
    static let standalone: [Activation] = [.relu, .sigmoid, .tanh]

    /// Applies the activation to `values` in place.
    func apply(_ values: UnsafeMutableBufferPointer<Float>) {
        apply(from: UnsafeBufferPointer(values), to: values)
    }

    /// Writes activation(`input`) to `output`; the two may be the same memory.
    func apply(from input: UnsafeBufferPointer<Float>, to output: UnsafeMutableBufferPointer<Float>) {
        let count = input.count
        guard count > 0, let src = input.baseAddress, let dst = output.baseAddress else { return }
        switch self {
        case .relu:
            VectorLoop.forEachParallelSpan(count) { s, n in
                VectorLoop.map(src + s, dst + s, n) { $0.replacing(with: 0, where: $0 .< 0) }
            }
        case .sigmoid:
            VectorLoop.forEachParallelSpan(count) { s, n in VectorLoop.map(src + s, dst + s, n) { FastMath.sigmoid($0) } }
        case .tanh:
            VectorLoop.forEachParallelSpan(count) { s, n in VectorLoop.map(src + s, dst + s, n) { FastMath.tanh($0) } }
        case .gelu:
            VectorLoop.forEachParallelSpan(count) { s, n in VectorLoop.map(src + s, dst + s, n) { FastMath.gelu($0) } }
        }
    }

    /// Adds `bias` (one row of `width`) to each of `rows` rows at `values` and applies `activation` (if any), in one
    /// pass over the rows split across threads.
    static func apply(
        _ activation: Activation?, rows: Int, width: Int, bias: UnsafePointer<Float>,
        to values: UnsafeMutablePointer<Float>
    ) {
        Parallelism.forEachChunk(rows, grain: Swift.max(1, 16384 / Swift.max(width, 1))) { _, range in
            for row in range {
                let p = values + row * width
                switch activation {
                case nil: VectorLoop.map(p, bias, p, width) { $0 + $1 }
                case .relu?: VectorLoop.map(p, bias, p, width) { let v = $0 + $1; return v.replacing(with: 0, where: v .< 0) }
                case .sigmoid?: VectorLoop.map(p, bias, p, width) { FastMath.sigmoid($0 + $1) }
                case .tanh?: VectorLoop.map(p, bias, p, width) { FastMath.tanh($0 + $1) }
                case .gelu?: VectorLoop.map(p, bias, p, width) { FastMath.gelu($0 + $1) }
                }
            }
        }
    }
}

/// Relu, Sigmoid or Tanh as a node of its own, on float32.
struct ActivationKernel: Kernel, DeclaresElementTypes {
    let activation: Activation

    init(_ activation: Activation, _ node: NodeDefinition) throws {
        try node.expectInputs(1)
        self.activation = activation
    }

    func run(_ io: NodeIO) throws {
        let x = try io.requiredInput(0)
        try checkType(x, at: 0, activation.opType)
        let y = try io.output(0, .float32, x.shape)
        activation.apply(from: x.elements(as: Float.self), to: y.mutableElements(as: Float.self))
    }
}

extension ActivationKernel {
    func acceptedTypes(input position: Int) -> Set<ElementType>? { DeclaredTypes.float32 }
}
