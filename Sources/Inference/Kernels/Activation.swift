import Foundation

/// Element-wise float activations that can run alone or fused into the producing kernel's output loop.
public enum Activation: String, Sendable, CaseIterable {
    case relu = "Relu"
    case sigmoid = "Sigmoid"
    case tanh = "Tanh"

    /// The ONNX operator name.
    public var opType: String { rawValue }

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
        }
    }
}

/// Relu, Sigmoid or Tanh as a node of its own.
struct ActivationKernel: Kernel {
    let activation: Activation

    init(_ activation: Activation, _ node: NodeDefinition) throws {
        try node.expectInputs(1)
        self.activation = activation
    }

    func run(_ io: NodeIO) throws {
        let x = try io.requiredInput(0)
        guard x.elementType == .float32 else {
            throw InferenceError.invalidInput("\(activation.opType) takes float32, got \(x.elementType)")
        }
        let y = try io.output(0, .float32, x.shape)
        activation.apply(from: x.elements(as: Float.self), to: y.mutableElements(as: Float.self))
    }
}
