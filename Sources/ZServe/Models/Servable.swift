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
    private let usage = Mutex<Usage>(Usage())

    private struct Usage {
        var running = 0
        var whenIdle: (@Sendable () -> Void)?
    }

    public init(name: String, version: Int64, model: Model) {
        self.name = name
        self.version = version
        self.model = model
    }

    /// A request starts running on this version.
    public func beginRequest() {
        usage.withLock { $0.running += 1 }
    }

    /// A request running on this version finished; the last one after `whenIdle` runs its action.
    public func endRequest() {
        let action: (@Sendable () -> Void)? = usage.withLock { usage in
            usage.running -= 1
            guard usage.running == 0, let action = usage.whenIdle else { return nil }
            usage.whenIdle = nil
            return action
        }
        action?()
    }

    /// Runs `action` once no request runs on this version: at once when none does, else after the last one ends
    /// (on that request's thread). Call it once the version can no longer be resolved, so no request starts after.
    public func whenIdle(_ action: @escaping @Sendable () -> Void) {
        let runNow = usage.withLock { usage in
            guard usage.running > 0 else { return true }
            usage.whenIdle = action
            return false
        }
        if runNow { action() }
    }
}
