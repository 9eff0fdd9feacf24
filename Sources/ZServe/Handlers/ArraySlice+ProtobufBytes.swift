import SwiftProtobuf

/// Lets generated messages decode straight from a view of a received buffer (`WorkItem.payload`), so a control
/// request — a model push of up to `--max-push-size` — is not copied into an array first. SwiftProtobuf conforms
/// `[UInt8]` and `Data` only; a slice meets every requirement the same way.
extension ArraySlice: @retroactive SwiftProtobufContiguousBytes where Element == UInt8 {}
