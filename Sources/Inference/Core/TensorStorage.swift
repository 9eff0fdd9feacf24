/// A fixed-size, 64-byte-aligned block of memory holding tensor elements.
///
/// `@unchecked Sendable` because the type itself does not synchronize: a storage is either written by the one session
/// that owns it (activation buffers, never shared between threads), or written once while a model loads and only read
/// after the model is published (weights, shared read-only by every worker).
final class TensorStorage: @unchecked Sendable {
    /// Start of the block; valid for `byteCapacity` bytes until the storage is deinitialized.
    let pointer: UnsafeMutableRawPointer
    /// Size of the block in bytes.
    public let byteCapacity: Int

    /// Allocates `byteCapacity` uninitialized bytes (at least one, so the pointer is always valid).
    init(byteCapacity: Int) {
        self.byteCapacity = byteCapacity
        self.pointer = UnsafeMutableRawPointer.allocate(byteCount: max(byteCapacity, 1), alignment: 64)
    }

    /// Allocates a block holding a copy of `bytes`.
    convenience init(copying bytes: UnsafeRawBufferPointer) {
        self.init(byteCapacity: bytes.count)
        if let base = bytes.baseAddress, bytes.count > 0 {
            pointer.copyMemory(from: base, byteCount: bytes.count)
        }
    }

    deinit { pointer.deallocate() }
}
