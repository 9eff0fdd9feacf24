// swift-tools-version: 6.0
import PackageDescription

/// libFuzzer targets for ZServe, kept out of the main package so its build and tests are untouched. Build and run
/// with `scripts/fuzz.sh` (release, AddressSanitizer, libFuzzer's coverage instrumentation, its runtime without
/// `main`: each target's `main` hands over to libFuzzer's driver); see docs/fuzzing.md.
let package = Package(
    name: "ZServeFuzz",
    platforms: [.macOS(.v15)],
    dependencies: [.package(name: "ZServe", path: "..")],
    targets: [
        .target(name: "LibFuzzerDriver"),
        .target(name: "FuzzSupport", dependencies: ["LibFuzzerDriver"]),
        .executableTarget(
            name: "fuzz-request", dependencies: ["FuzzSupport", .product(name: "ZServeTesting", package: "ZServe")]),
        .executableTarget(
            name: "fuzz-onnx", dependencies: ["FuzzSupport", .product(name: "ZServeTesting", package: "ZServe")]),
    ]
)
