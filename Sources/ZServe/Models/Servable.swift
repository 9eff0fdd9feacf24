import Inference

/// One loaded, warmed-up model version, ready to serve.
///
/// Immutable and reference-counted: a request holds its servable until it replies, so a version removed from the
/// registry stays valid for requests already running on it and is freed after the last one returns.
public final class Servable: Sendable {
    public let name: String
    public let version: Int64
    public let model: Model

    public init(name: String, version: Int64, model: Model) {
        self.name = name
        self.version = version
        self.model = model
    }
}
