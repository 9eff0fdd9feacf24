import Foundation
import Logging
import ServingProtocol
import Testing
@testable import ZServe
import ZeroMQ

/// CURVE key files, the allow-lists and the ZAP handler's answers, without a client connecting; and the admin
/// endpoint's refusal to bind beyond loopback without keys (checked before anything binds).
struct ServerSecurityTests {
    private let directory: URL

    init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("zserve-keys-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    private func path(_ name: String) -> String { directory.appendingPathComponent(name).path }

    @Test func keyFilesRoundTripAndBadOnesAreNamed() throws {
        let keys = try CurveKeyPair.generate()
        try CurveCertificate.write(keys, prefix: path("a"))
        #expect(try CurveCertificate.readSecret(path("a.key")) == keys)
        #expect(try CurveCertificate.readPublic(path("a.pub")) == keys.publicKey)
        #expect(try CurveCertificate.readPublic(path("a.key")) == keys.publicKey)
        #expect(throws: CurveCertificate.FileError.self) { try CurveCertificate.write(keys, prefix: path("a")) }
        #expect(performing: { _ = try CurveCertificate.readSecret(path("a.pub")) }, throws: {
            "\($0)".contains("no secret-key")
        })
        let other = try CurveKeyPair.generate()
        try "public-key = \"\(other.publicKey)\"\nsecret-key = \"\(keys.secretKey)\"\n".write(toFile: path("mixed.key"), atomically: true, encoding: .utf8)
        chmod(path("mixed.key"), 0o600)
        #expect(performing: { _ = try CurveCertificate.readSecret(path("mixed.key")) }, throws: {
            "\($0)".contains("does not belong")
        })
        try "\(keys.secretKey)\n".write(toFile: path("bare.key"), atomically: true, encoding: .utf8)
        chmod(path("bare.key"), 0o644)
        #expect(performing: { _ = try CurveCertificate.readSecret(path("bare.key")) }, throws: {
            "\($0)".contains("readable by others")
        })
        chmod(path("bare.key"), 0o600)
        #expect(try CurveCertificate.readSecret(path("bare.key")) == keys, "a bare Z85 key on one line is read too")
        try "public-key = \"short\"\n".write(toFile: path("short.pub"), atomically: true, encoding: .utf8)
        #expect(performing: { _ = try CurveCertificate.readPublic(path("short.pub")) }, throws: {
            "\($0)".contains("expected 40 characters of Z85, got 5")
        })
    }

    @Test func theZAPHandlerAllowsListedKeysAndFollowsTheDirectory() throws {
        let context = try Context()
        defer { context.terminate() }
        let admin = directory.appendingPathComponent("admin")
        try FileManager.default.createDirectory(at: admin, withIntermediateDirectories: true)
        let ops = try CurveKeyPair.generate(), stranger = try CurveKeyPair.generate()
        try CurveCertificate.write(ops, prefix: admin.appendingPathComponent("ops").path)
        try "not a key".write(to: admin.appendingPathComponent("junk.pub"), atomically: true, encoding: .utf8)
        let handler = try ZAPHandler(
            context: context, allowed: ["admin": AllowedKeys(directory: admin, logger: Logger(label: "test"))],
            logger: Logger(label: "test"))
        func request(_ domain: String, _ mechanism: String, _ key: CurveKeyPair?) -> [String] {
            let frames: [[UInt8]] = [Array("1.0".utf8), Array("7".utf8), Array(domain.utf8), Array("10.0.0.9".utf8), [],
                                     Array(mechanism.utf8)] + (key.map { [CurveKeyPair.z85Decode($0.publicKey)!] } ?? [])
            return handler.answer(frames).map { String(decoding: $0, as: UTF8.self) }
        }
        #expect(request("admin", "CURVE", ops) == ["1.0", "7", "200", "OK", "ops", ""])
        #expect(request("admin", "CURVE", stranger)[2] == "400")
        #expect(request("frontend", "CURVE", ops)[2] == "400", "an endpoint without an allow-list admits nobody")
        #expect(request("admin", "NULL", nil)[2] == "400")
        #expect(handler.answer([Array("2.0".utf8), Array("8".utf8)]).map { String(decoding: $0, as: UTF8.self) }[2] == "500")
        try CurveCertificate.write(stranger, prefix: admin.appendingPathComponent("stranger").path)
        #expect(request("admin", "CURVE", stranger) == ["1.0", "7", "200", "OK", "stranger", ""], "re-read on change")
        try FileManager.default.removeItem(at: admin.appendingPathComponent("ops.pub"))
        #expect(request("admin", "CURVE", ops)[2] == "400", "a removed key is refused from the next connection")
    }

    @Test(arguments: [
        ("tcp://127.0.0.1:7071", true), ("tcp://127.8.0.1:0", true), ("tcp://[::1]:7071", true), ("tcp://localhost:1", true),
        ("tcp://lo:7071", true), ("ipc:///run/zserve.sock", true), ("inproc://x", true), ("tcp://0.0.0.0:7071", false),
        ("tcp://*:7071", false), ("tcp://10.0.0.5:7071", false), ("tcp://eth0:7071", false), ("tcp://127.0.0.1.evil:1", false),
    ])
    func loopbackEndpoints(endpoint: String, loopback: Bool) {
        #expect(ServerConfiguration.isLoopback(endpoint) == loopback)
    }

    @Test func anUnauthenticatedAdminEndpointBeyondLoopbackIsRefusedUnlessInsecureIsAsked() throws {
        var configuration = ServerConfiguration(repository: directory, listen: "tcp://127.0.0.1:0", admin: "tcp://0.0.0.0:0", workers: 1)
        #expect(performing: { _ = try Server(configuration: configuration) }, throws: {
            "\($0)".contains("refusing to bind the admin endpoint tcp://0.0.0.0:0 without authentication")
        })
        configuration.insecureAdmin = true
        _ = try Server(configuration: configuration)  // builds; nothing is bound until start()
        configuration.insecureAdmin = false
        configuration.curve = .init(keys: try CurveKeyPair.generate(), adminKeys: directory)
        _ = try Server(configuration: configuration)
    }
}

/// Model files measured before the runtime parses them.
struct ModelFileLimitsTests {
    /// A length-delimited protobuf field.
    private func field(_ number: Int, _ payload: [UInt8]) -> [UInt8] {
        var bytes = [UInt8(number << 3 | 2)]
        var length = payload.count
        repeat {
            bytes.append(UInt8(length & 0x7f) | (length > 0x7f ? 0x80 : 0))
            length >>= 7
        } while length > 0
        return bytes + payload
    }

    /// A ModelProto whose graph has `nodes` nodes, an initializer of `weights` bytes, and one node holding a
    /// subgraph nested `depth` deep (each level one node).
    private func model(nodes: Int, weights: Int, depth: Int) -> [UInt8] {
        var graph: [UInt8] = []
        for _ in 0..<depth { graph = field(1, field(5, field(6, graph))) }  // node { attribute { g: graph } }
        for _ in 0..<nodes { graph += field(1, field(4, Array("Relu".utf8))) }
        graph += field(5, field(9, [UInt8](repeating: 7, count: weights)))  // initializer { raw_data }
        return field(7, graph)
    }

    private func check(_ bytes: [UInt8], _ limits: ModelFileLimits) throws(ServingError) {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("limits-\(UUID().uuidString).onnx")
        defer { try? FileManager.default.removeItem(at: file) }
        try? Data(bytes).write(to: file)
        try limits.check(file: file)
    }

    @Test func nodesSubgraphsAndInitializerBytesAreCountedWithoutParsing() throws {
        let counts = try model(nodes: 5, weights: 1000, depth: 3).withUnsafeBytes { try ModelFileLimits.count(model: $0) }
        #expect(counts.nodes == 5 + 3 + 0, "subgraph nodes count")
        #expect(counts.initializerBytes >= 1000 && counts.initializerBytes < 1010)
        var limits = ModelFileLimits()
        limits.maxNodes = 7
        #expect(throws: ServingError(.resourceExhausted, "model has 8 graph nodes, over the --max-graph-nodes limit of 7")) {
            try check(model(nodes: 5, weights: 10, depth: 3), limits)
        }
        limits.maxNodes = 100
        limits.maxInitializerBytes = 999
        #expect(performing: { try check(model(nodes: 1, weights: 1000, depth: 0), limits) }, throws: {
            ($0 as? ServingError)?.code == .resourceExhausted && "\($0)".contains("--max-initializer-bytes")
        })
        limits.maxFileBytes = 10
        #expect(performing: { try check(model(nodes: 1, weights: 0, depth: 0), limits) }, throws: {
            ($0 as? ServingError)?.code == .resourceExhausted && "\($0)".contains("--max-push-size")
        })
    }

    @Test func hostileNestingAndTruncationAreRefusedAsNotAModel() {
        #expect(performing: { try check(model(nodes: 1, weights: 0, depth: 40), ModelFileLimits()) }, throws: {
            ($0 as? ServingError)?.code == .invalidArgument && "\($0)".contains("nested deeper than 32")
        })
        #expect(performing: { try check(Array(model(nodes: 3, weights: 100, depth: 2).dropLast(5)), ModelFileLimits()) }, throws: {
            ($0 as? ServingError)?.code == .invalidArgument
        })
    }
}
