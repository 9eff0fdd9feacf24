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
    /// How many initialized `String`s the block holds from its start (a string tensor's storage); 0 for raw bytes.
    let stringCount: Int

    /// Allocates `byteCapacity` uninitialized bytes (at least one, so the pointer is always valid).
    init(byteCapacity: Int) {
        self.byteCapacity = byteCapacity
        self.stringCount = 0
        self.pointer = UnsafeMutableRawPointer.allocate(byteCount: max(byteCapacity, 1), alignment: 64)
    }

    /// Allocates a block holding `strings` as initialized `String` values, which `deinit` deinitializes.
    ///
    /// Such a block is never pooled or copied bytewise: its elements are read and assigned as `String`s (which keeps
    /// their reference counts right) by the kernels that take string tensors.
    init(strings: some Collection<String>) {
        stringCount = strings.count
        byteCapacity = stringCount * MemoryLayout<String>.stride
        pointer = UnsafeMutableRawPointer.allocate(byteCount: max(byteCapacity, 1), alignment: 64)
        // Safe: the block was just allocated for exactly `stringCount` Strings and is not yet visible to anyone.
        _ = UnsafeMutableBufferPointer(start: pointer.bindMemory(to: String.self, capacity: stringCount), count: stringCount)
            .initialize(from: strings)
    }

    /// Allocates a block holding a copy of `bytes`.
    convenience init(copying bytes: UnsafeRawBufferPointer) {
        self.init(byteCapacity: bytes.count)
        if let base = bytes.baseAddress, bytes.count > 0 {
            pointer.copyMemory(from: base, byteCount: bytes.count)
        }
    }

    deinit {
        if stringCount > 0 {
            // Safe: `init(strings:)` initialized exactly `stringCount` Strings here, and only whole-String assignments
            // (never raw byte copies) have written them since.
            pointer.assumingMemoryBound(to: String.self).deinitialize(count: stringCount)
        }
        pointer.deallocate()
    }
}
