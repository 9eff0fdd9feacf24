/// A dense, row-major tensor: element type, shape and a storage holding at least `byteCount` bytes.
///
/// A value type over a shared storage: copying a `Tensor` does not copy elements. Several tensors may view one storage
/// (a reshape is a view); writing through `mutablePointer` is only allowed to the session that owns the storage.
public struct Tensor: Sendable {
    public let elementType: ElementType
    public let shape: [Int]
    let storage: TensorStorage

    /// Creates a tensor over `storage`, which must hold `shape`'s element count × element size bytes.
    init(elementType: ElementType, shape: [Int], storage: TensorStorage) {
        precondition(shape.elementCount * elementType.byteSize <= storage.byteCapacity, "storage too small for tensor")
        self.elementType = elementType
        self.shape = shape
        self.storage = storage
    }

    /// Creates a tensor holding a copy of `bytes`, which must be exactly the elements' size. Not for `string`.
    public init(elementType: ElementType, shape: [Int], copying bytes: UnsafeRawBufferPointer) {
        precondition(elementType.hasRawBytes, "string tensors are made from strings")
        precondition(bytes.count == shape.elementCount * elementType.byteSize, "byte count does not match shape")
        self.init(elementType: elementType, shape: shape, storage: TensorStorage(copying: bytes))
    }

    /// Creates a float32 tensor from `values`.
    public init(float32 values: [Float], shape: [Int]) {
        self = values.withUnsafeBytes { Tensor(elementType: .float32, shape: shape, copying: $0) }
    }

    /// Creates a string tensor holding `values` (shape's element count of them, row-major).
    public init(strings values: some Collection<String>, shape: [Int]) {
        precondition(values.count == shape.elementCount, "string count does not match shape")
        self.init(elementType: .string, shape: shape, storage: TensorStorage(strings: values))
    }

    /// Creates an int64 tensor from `values`.
    public init(int64 values: [Int64], shape: [Int]) {
        self = values.withUnsafeBytes { Tensor(elementType: .int64, shape: shape, copying: $0) }
    }

    /// Number of elements.
    public var count: Int { shape.elementCount }
    /// Number of bytes the elements occupy.
    public var byteCount: Int { count * elementType.byteSize }
    /// Number of dimensions.
    public var rank: Int { shape.count }

    /// The same elements under another shape with the same element count; no copy.
    public func reshaped(_ newShape: [Int]) -> Tensor {
        precondition(newShape.elementCount == count, "reshape must keep the element count")
        return Tensor(elementType: elementType, shape: newShape, storage: storage)
    }

    /// The elements as typed read-only memory. `T` must match `elementType`.
    public func elements<T>(as type: T.Type) -> UnsafeBufferPointer<T> {
        precondition(MemoryLayout<T>.size == elementType.byteSize, "element type mismatch")
        precondition((T.self == String.self) == (elementType == .string), "string tensors hold Strings only")
        return UnsafeBufferPointer(start: storage.pointer.assumingMemoryBound(to: T.self), count: count)
    }

    /// The elements as typed writable memory, for the kernel filling its output. `T` must match `elementType`.
    func mutableElements<T>(as type: T.Type) -> UnsafeMutableBufferPointer<T> {
        precondition(MemoryLayout<T>.size == elementType.byteSize, "element type mismatch")
        precondition((T.self == String.self) == (elementType == .string), "string tensors hold Strings only")
        return UnsafeMutableBufferPointer(start: storage.pointer.assumingMemoryBound(to: T.self), count: count)
    }

    /// The elements of a string tensor.
    public var strings: UnsafeBufferPointer<String> { elements(as: String.self) }

    /// The elements' bytes (in memory order; for a string tensor, its `String` values, not their text).
    public var bytes: UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: storage.pointer, count: byteCount)
    }

    /// Copies the elements into `target`, which must have the same element type and count.
    func copyElements(into target: Tensor) {
        precondition(target.count == count, "copy between different tensors")
        copyElements(count, from: 0, into: target, at: 0)
    }

    /// Copies `count` elements from element `start` on into `target` (same element type) from element `offset` on:
    /// strings are assigned as `String`s, everything else copied as bytes. The ranges must lie inside both tensors.
    func copyElements(_ count: Int, from start: Int, into target: Tensor, at offset: Int) {
        precondition(target.elementType == elementType, "copy between different element types")
        guard count > 0 else { return }
        if elementType == .string {
            _ = UnsafeMutableBufferPointer(rebasing: target.mutableElements(as: String.self)[offset..<(offset + count)])
                .update(fromContentsOf: strings[start..<(start + count)])
        } else {
            let size = elementType.byteSize
            (target.storage.pointer + offset * size).copyMemory(from: storage.pointer + start * size, byteCount: count * size)
        }
    }

    /// A copy of the elements as an array, for tests and small shape tensors.
    public func array<T>(of type: T.Type) -> [T] {
        Array(elements(as: type))
    }

    /// The elements of an integer tensor (int64 or int32) as `Int`s; used for shape-like inputs.
    public func integers() -> [Int]? {
        switch elementType {
        case .int64: elements(as: Int64.self).map { Int($0) }
        case .int32: elements(as: Int32.self).map { Int($0) }
        default: nil
        }
    }
}

extension Array where Element == Int {
    /// Product of the dimensions (1 for a scalar shape). Only for shapes that passed `validateShape()`.
    public var elementCount: Int { reduce(1, *) }

    /// The largest product of dimensions (zeros counted as 1) a tensor shape may have: 2^48, so that element counts,
    /// strides and byte sizes of a valid shape and of any of its sub-shapes cannot overflow.
    public static let maximumShapeVolume = 1 << 48

    /// Checks that every dimension is ≥ 0 and that the product of the dimensions, zeros counted as 1, is at most
    /// `maximumShapeVolume`. Every shape a tensor takes — from a request, a model file or a kernel — passes here first,
    /// which is what lets `elementCount` and `strides` use plain arithmetic.
    ///
    /// - Throws: `InferenceError.invalidInput` naming the shape.
    public func validateShape() throws(InferenceError) {
        var volume = 1
        for dim in self {
            guard dim >= 0 else { throw InferenceError.invalidInput("shape \(self) has a negative dimension") }
            let (next, overflow) = volume.multipliedReportingOverflow(by: Swift.max(dim, 1))
            guard !overflow, next <= Self.maximumShapeVolume else {
                throw InferenceError.invalidInput("shape \(self) is too large")
            }
            volume = next
        }
    }

    /// Row-major strides, in elements.
    var strides: [Int] {
        var result = [Int](repeating: 1, count: count)
        var stride = 1
        for axis in indices.reversed() {
            result[axis] = stride
            stride *= self[axis]
        }
        return result
    }
}
