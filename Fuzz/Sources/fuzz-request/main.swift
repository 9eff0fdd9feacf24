import FuzzSupport
import ZServeTesting

/// The server, started once per fuzzing process (libFuzzer calls the target many times in one process).
nonisolated(unsafe) let harness: RequestFuzzHarness = {
    do {
        return try RequestFuzzHarness()
    } catch {
        fatalError("cannot start the in-process server: \(error)")
    }
}()

/// One request (frames in `FuzzFrames` form) through the server; a broken promise aborts.
///
/// `data` is valid for `size` bytes for the duration of the call (libFuzzer's contract); it is only read, here.
let fuzzRequest: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt = { data, size in
    if let violation = harness.check(UnsafeBufferPointer(start: data, count: size)) {
        fatalError("request fuzzer: \(violation)")
    }
    return 0
}

fuzzMain(seeds: RequestFuzzHarness.seeds, target: fuzzRequest)
