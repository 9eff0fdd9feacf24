import Foundation
import ServingProtocol

/// Turns a version's model file into a servable: the seam between the model manager's lifecycle logic and the
/// runtime. The server uses `ONNXLoader`; tests substitute a fake that succeeds, fails or observes on demand (the
/// role TF Serving's `FakeLoader` plays).
///
/// Called on the model manager thread only.
public protocol Loader {
    /// Loads `file` as `version` of `name` and warms it up.
    ///
    /// - Returns: the servable, and a warm-up failure that was tolerated (`.generated(required: false)` only).
    /// - Throws: INVALID_ARGUMENT naming what is wrong (not a model, unsupported operators, a failed warm-up).
    func load(file: URL, name: String, version: Int64, warmup: Warmup) throws(ServingError) -> (Servable, tolerated: Error?)
}

/// Where a version's warm-up inputs come from, and whether a failed warm-up rejects the version.
public enum Warmup: Sendable {
    /// Inputs shipped with a push: the run must succeed.
    case given([Zserve_V1_Tensor])
    /// Inputs of ones made from the declared shapes (dimensions of any size taken as 1). `required` rejects the
    /// version when the run fails; otherwise a failure is returned for logging, since made-up inputs may simply not
    /// suit the model (a Reshape that needs a particular batch size, say).
    case generated(required: Bool)
}

/// The runtime's loader: size limits checked on the file, then parse, operator check, memory plan, warm-up run
/// (`VersionLoader`).
public struct ONNXLoader: Loader, Sendable {
    public let limits: ModelFileLimits

    public init(limits: ModelFileLimits = ModelFileLimits()) {
        self.limits = limits
    }

    public func load(
        file: URL, name: String, version: Int64, warmup: Warmup
    ) throws(ServingError) -> (Servable, tolerated: Error?) {
        try limits.check(file: file)
        return try VersionLoader.load(file: file, name: name, version: version, warmup: warmup)
    }
}
