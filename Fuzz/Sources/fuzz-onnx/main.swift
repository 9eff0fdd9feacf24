import FuzzSupport
import ZServeTesting

/// `data` as an ONNX file through the loader, planner and one run on generated inputs; a broken promise aborts.
///
/// `data` is valid for `size` bytes for the duration of the call (libFuzzer's contract); it is only read, here.
let fuzzONNX: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt = { data, size in
    if let violation = ModelFuzzHarness.check(UnsafeBufferPointer(start: data, count: size)) {
        fatalError("ONNX fuzzer: \(violation)")
    }
    return 0
}

fuzzMain(seeds: ModelFuzzHarness.seeds, target: fuzzONNX)
