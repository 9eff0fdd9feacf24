import Foundation
import LibFuzzerDriver

/// The `main` of a fuzz target: `--write-seeds DIR` writes `seeds` there (one file each) and exits; anything else
/// is libFuzzer's command line (flags, corpus folders, crash files to replay), run against `target`.
///
/// `target` receives libFuzzer's input, valid for `size` bytes for the duration of the call.
public func fuzzMain(
    seeds: @autoclosure () -> [(name: String, bytes: [UInt8])],
    target: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt
) -> Never {
    let arguments = CommandLine.arguments
    if arguments.count == 3, arguments[1] == "--write-seeds" {
        let folder = URL(fileURLWithPath: arguments[2])
        do {
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            for seed in seeds() { try Data(seed.bytes).write(to: folder.appendingPathComponent(seed.name)) }
        } catch {
            FileHandle.standardError.write(Data("cannot write seeds: \(error)\n".utf8))
            exit(1)
        }
        exit(0)
    }
    var count = CommandLine.argc
    var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
    exit(LLVMFuzzerRunDriver(&count, &argv, target))
}
