/// Where a model version is in its lifecycle.
public enum VersionState: String, Sendable {
    case loading = "LOADING"
    case available = "AVAILABLE"
    case failed = "FAILED"
    /// Unloaded: no new request reaches it, requests already on it are finishing.
    case unloading = "UNLOADING"
    case end = "END"
}

/// The registry's record of one version.
public struct VersionStatus: Sendable, Equatable {
    public let version: Int64
    public let state: VersionState
    /// Why loading failed, when `state` is `.failed`.
    public let error: String?
}
