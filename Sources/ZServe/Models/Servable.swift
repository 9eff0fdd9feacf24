import Inference
import Synchronization

/// One loaded, warmed-up model version, ready to serve.
///
/// Immutable and reference-counted: a request holds its servable until it replies, so a version removed from the
/// registry stays valid for requests already running on it and is freed after the last one returns. Requests mark
/// their use (`beginRequest` / `endRequest`), so the registry can report a version UNLOADING until the last request
/// running on it has finished, and END after. Thread-safe.
public final class Servable: Sendable {
    public let name: String
    public let version: Int64
    public let model: Model
    /// The file it was loaded from and its digest, on a server (what remote workers fetch); nil when unknown.
    public let source: VersionSource?
    /// Requests running on this version (an atomic: marked twice per request on the hot path).
    private let running = Atomic<Int>(0)
    /// What to run once no request runs on it, set by `whenIdle` and taken once.
    private let whenIdleAction = Mutex<(@Sendable () -> Void)?>(nil)
    /// Whether `whenIdle` was called, so ending requests of a serving version never take the lock.
    private let awaitingIdle = Atomic<Bool>(false)
    /// Recent compute time per request in nanoseconds (a moving average; 0 until a run is recorded).
    private let computePerRequest = Atomic<UInt64>(0)

    public init(name: String, version: Int64, model: Model, source: VersionSource? = nil) {
        self.name = name
        self.version = version
        self.model = model
        self.source = source
    }

    /// The same loaded model with its file's location and digest; call it before publishing (the copy shares the
    /// model, not the request counts).
    public func located(_ source: VersionSource) -> Servable {
        Servable(name: name, version: version, model: model, source: source)
    }

    /// Which version this is.
    public var key: VersionKey { VersionKey(model: name, version: version) }

    /// Records a run that computed `requests` requests (stacked or one) in `nanoseconds`. Thread-safe; concurrent
    /// runs may overwrite each other's update, which an estimate can afford.
    public func recordCompute(nanoseconds: UInt64, requests: Int) {
        let sample = nanoseconds / UInt64(max(1, requests))
        let old = computePerRequest.load(ordering: .relaxed)
        // Weight 1/8 for the new sample; the first sample is taken as is.
        let new = old == 0 ? max(1, sample) : old - old / 8 + sample / 8
        computePerRequest.store(new, ordering: .relaxed)
    }

    /// Recent compute time per request, nil before any run was recorded.
    public var nanosecondsPerRequest: UInt64? {
        let value = computePerRequest.load(ordering: .relaxed)
        return value == 0 ? nil : value
    }

    /// A request starts running on this version.
    public func beginRequest() {
        running.add(1, ordering: .relaxed)
    }

    /// A request running on this version finished; the last one after `whenIdle` runs its action.
    public func endRequest() {
        // Sequentially consistent with `whenIdle`: of the two, at least one sees the other's write.
        if running.subtract(1, ordering: .sequentiallyConsistent).newValue == 0,
           awaitingIdle.load(ordering: .sequentiallyConsistent) {
            runIdleAction()
        }
    }

    /// Runs `action` once no request runs on this version: at once when none does, else after the last one ends
    /// (on that request's thread). Call it once the version can no longer be resolved, so no request starts after.
    public func whenIdle(_ action: @escaping @Sendable () -> Void) {
        whenIdleAction.withLock { $0 = action }
        awaitingIdle.store(true, ordering: .sequentiallyConsistent)
        if running.load(ordering: .sequentiallyConsistent) == 0 { runIdleAction() }
    }

    /// Takes and runs the idle action if it is still set (whichever of `whenIdle` and the last `endRequest` sees no
    /// request running takes it; the other finds it gone).
    private func runIdleAction() {
        whenIdleAction.withLock { action in
            defer { action = nil }
            return action
        }?()
    }
}
