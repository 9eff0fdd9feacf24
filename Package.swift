// swift-tools-version: 6.0
import Foundation
import PackageDescription

/// Code generation for the inference kernels: the build host's vector extensions, like `-march=native` in C builds.
///
/// On an x86-64 host with AVX2 and FMA the kernels are compiled for that level (`-target-cpu haswell`, 8-wide vectors
/// and fused multiply-add) and `ZSERVE_FMA` is defined; the binary then needs such a CPU to run. Set
/// `ZSERVE_TARGET_CPU` to an LLVM CPU name to choose (e.g. `x86-64` for a binary that runs on any x86-64 machine, or
/// `haswell` when building for other AVX2 hosts on one without it).
let kernelSettings: [SwiftSetting] = {
    let fmaCapable = ["haswell", "broadwell", "skylake", "skylake-avx512", "cascadelake", "icelake-server",
                      "sapphirerapids", "znver1", "znver2", "znver3", "znver4", "znver5"]
    var cpu = ProcessInfo.processInfo.environment["ZSERVE_TARGET_CPU"]
    #if arch(x86_64)
    if cpu == nil, let info = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
       let flags = info.split(separator: "\n").first(where: { $0.hasPrefix("flags") }) {
        let present = Set(flags.split(separator: " ").map(String.init))
        if present.isSuperset(of: ["avx", "avx2", "fma", "f16c", "bmi2"]) { cpu = "haswell" }
    }
    #endif
    guard let cpu, !cpu.isEmpty else { return [] }
    return [.unsafeFlags(["-target-cpu", cpu])] + (fmaCapable.contains(cpu) ? [.define("ZSERVE_FMA")] : [])
}()

let package = Package(
    name: "ZServe",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "zserve", targets: ["zserve"]),
        .library(name: "ZServe", targets: ["ZServe"]),
        .library(name: "ZServeClient", targets: ["ZServeClient"]),
        .library(name: "Inference", targets: ["Inference"]),
        .library(name: "ZServeTesting", targets: ["ZServeTesting"]),
        .executable(name: "zserve-trainer", targets: ["zserve-trainer"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-protobuf.git", from: "1.39.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-collections.git", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "3.12.3"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift.git", from: "0.2.0"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/swhitty/FlyingFox.git", from: "0.27.1"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
    ],
    targets: [
        .systemLibrary(name: "CZeroMQ", providers: [.apt(["libzmq3-dev"])]),
        .systemLibrary(name: "COpenBLAS", providers: [.apt(["libopenblas-dev"])]),
        .target(name: "ZeroMQ", dependencies: ["CZeroMQ"]),
        .target(
            name: "ServingProtocol",
            dependencies: ["ProtobufWire", .product(name: "SwiftProtobuf", package: "swift-protobuf")]
        ),
        .target(
            name: "ONNXSchema",
            dependencies: [.product(name: "SwiftProtobuf", package: "swift-protobuf")]
        ),
        .target(name: "ProtobufWire"),
        .target(name: "Inference", dependencies: ["COpenBLAS", "ONNXSchema", "ProtobufWire"], swiftSettings: kernelSettings),
        .target(
            name: "ZServe",
            dependencies: [
                "ZeroMQ", "ServingProtocol", "Inference", "ProtobufWire",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "FlyingFox", package: "FlyingFox"),
                .product(name: "Yams", package: "Yams"),
            ]
        ),
        .target(
            name: "ZServeClient",
            dependencies: [
                "ZeroMQ", "ServingProtocol", .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
            ]
        ),
        .executableTarget(
            name: "zserve",
            dependencies: [
                "ZServe", "ZServeClient", "Inference",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ]
        ),
        .executableTarget(
            name: "zserve-rtt-bench",
            dependencies: [
                "ZServe", "ZeroMQ", "ServingProtocol",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Benchmarks/RoundTrip"
        ),
        .target(
            name: "ZServeTesting",
            dependencies: [
                "Inference", "ONNXSchema", "ZServe", "ZServeClient", "ServingProtocol", "ZeroMQ",
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ]
        ),
        .systemLibrary(name: "CLZMA", providers: [.apt(["liblzma-dev"])]),
        .target(
            name: "Trainer",
            dependencies: [
                "CLZMA", "COpenBLAS", "ONNXSchema", "Inference", "ZServeClient", "ServingProtocol",
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ]
        ),
        .executableTarget(
            name: "zserve-trainer",
            dependencies: [
                "Trainer", "Inference", "ZServeClient",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .testTarget(name: "ZeroMQTests", dependencies: ["ZeroMQ"]),
        .testTarget(name: "InferenceTests", dependencies: ["Inference", "ONNXSchema", "ZServeTesting"]),
        .testTarget(
            name: "ZServeTests",
            dependencies: [
                "ZServe", "ZServeClient", "ServingProtocol", "ZeroMQ", "Inference", "ZServeTesting",
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        .testTarget(
            name: "TrainerTests",
            dependencies: ["Trainer", "Inference", "ZServe", "ZServeClient", "ServingProtocol"]
        ),
    ]
)
