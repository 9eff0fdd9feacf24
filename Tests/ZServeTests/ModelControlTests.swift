import Crypto
import Foundation
import ServingProtocol
import Testing
import ZServe
import ZServeClient
import ZServeTesting

/// Pushes, labels and rollbacks over the admin endpoint of a real server.
@Suite struct ModelControlTests {
    /// The example model's bytes.
    static let example = try! Data(contentsOf: Fixtures.exampleRepository.appendingPathComponent("purchase_propensity/1/model.onnx"))

    func serverWithAdmin() throws -> (RunningServer, Client) {
        let running = try RunningServer(repository: try standardRepository()) {
            $0.admin = "tcp://127.0.0.1:0"
            $0.pollInterval = nil
        }
        return (running, try Client(endpoint: running.adminEndpoint!, timeoutMilliseconds: 30_000))
    }

    func code(_ body: () throws -> Any) -> String? {
        do {
            _ = try body()
            return nil
        } catch {
            return (error as? Client.Failure)?.codeName ?? "\(error)"
        }
    }

    @Test func pushedVersionsGoLiveAndAreStoredAtomically() throws {
        let (running, admin) = try serverWithAdmin()
        let pushed = try admin.pushModel(name: "purchase_propensity", model: Self.example, labels: ["stable"], chunkSize: 1000)
        #expect(pushed.version == 2)
        #expect(pushed.state == .available)
        let client = try running.client()
        #expect(try client.predict(propensityRequest()).version == 2)
        let info = try admin.modelStatus(model: "purchase_propensity")
        #expect(info.defaultVersion == 2)
        #expect(info.labels.map(\.name) == ["stable"])
        #expect(info.versions.map(\.state) == [.end, .available], "latest-1 policy unloads version 1")
        let root = try #require(running.repository).root
        #expect(FileManager.default.fileExists(atPath: root.appendingPathComponent("purchase_propensity/2/model.onnx").path))
        let staged = (try? FileManager.default.contentsOfDirectory(atPath: root.appendingPathComponent(".zserve-uploads").path)) ?? []
        #expect(staged.isEmpty)

        let rollback = try admin.rollback(model: "purchase_propensity")
        #expect((rollback.fromVersion, rollback.toVersion) == (2, 1))
        #expect(try client.predict(propensityRequest()).version == 1)
    }

    @Test func badPushesAreRefusedAndChangeNothing() throws {
        let (running, admin) = try serverWithAdmin()
        let root = try #require(running.repository).root
        let before = try FileManager.default.subpathsOfDirectory(atPath: root.path).sorted()
        let digest = Data(SHA256.hash(data: Self.example))

        func push(_ edit: (inout Zserve_V1_PushModelRequest) -> Void) -> String? {
            var request = Zserve_V1_PushModelRequest.with {
                $0.model = "purchase_propensity"
                $0.sha256 = digest
                $0.totalSize = UInt64(Self.example.count)
                $0.data = Self.example
                $0.commit = true
            }
            edit(&request)
            return code { try admin.call(.pushModel, request) as Zserve_V1_PushModelResponse }
        }
        #expect(push { $0.sha256 = Data(repeating: 0, count: 32) } == "DATA_LOSS")
        #expect(push { $0.data = Self.example.prefix(100) } == "DATA_LOSS", "truncated transfer")
        #expect(push { $0.offset = 5 } == "OUT_OF_RANGE")
        #expect(push { $0.version = 1 } == "ALREADY_EXISTS")
        #expect(push { $0.sha256 = Data([1, 2]) } == "INVALID_ARGUMENT")
        for name in ["", "../x", "/abs", String(repeating: "a", count: 129), ".hidden"] {
            #expect(push { $0.model = name } == "INVALID_ARGUMENT", "name \(name.prefix(10))")
        }
        let garbage = Data("not a model".utf8)
        #expect(push {
            $0.data = garbage
            $0.totalSize = UInt64(garbage.count)
            $0.sha256 = Data(SHA256.hash(data: garbage))
        } == "INVALID_ARGUMENT")
        #expect(push { $0.uploadID = "nope" } == "NOT_FOUND")

        #expect(try FileManager.default.subpathsOfDirectory(atPath: root.path).sorted() == before)
        #expect(try running.client().predict(propensityRequest()).version == 1)
        let frontend = try running.client()
        #expect(code { try frontend.rollback(model: "purchase_propensity") } == "PERMISSION_DENIED")
    }
}
