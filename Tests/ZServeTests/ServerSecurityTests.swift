import Foundation
import Logging
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
