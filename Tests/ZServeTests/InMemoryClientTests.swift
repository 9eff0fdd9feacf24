import Crypto
import Foundation
import Inference
import ServingProtocol
import Testing
import ZServe
import ZServeTesting

/// The in-memory client runs the server's request handling without sockets: the same answers as over ZeroMQ.
@Suite struct InMemoryClientTests {
    @Test func predictionsMatchTheModelRunDirectly() throws {
        let repository = try standardRepository()
        let client = try InMemoryClient(repository: repository.root)
        let response = try client.predict(propensityRequest(id: "a", rows: 3))
        #expect(response.id == "a")
        #expect(response.version == 1)
        let model = try Model(contentsOf: Fixtures.exampleRepository.appendingPathComponent("purchase_propensity/1/model.onnx"))
        let session = model.makeSession()
        try session.setInput(0, try tensor(propensityRequest(rows: 3).inputs[0]))
        let expected = try session.run()[0]
        #expect(Tolerance.mismatch(try tensor(response.outputs[0]), expected, rtol: 0, atol: 0) == nil)
    }

    @Test func errorsCarryTheServersStatus() throws {
        let repository = try standardRepository()
        let client = try InMemoryClient(repository: repository.root)
        #expect(throws: ServingError(.notFound, "model 'nope' not found")) {
            try client.predict(.with { $0.model.name = "nope" })
        }
        var request = propensityRequest()
        request.inputs[0].shape = [3, 8]
        #expect(throws: ServingError.self) { try client.predict(request) }
    }

    @Test func pushesGoThroughTheAdminSideAndBatchingDelaysAreHonoured() throws {
        let repository = try standardRepository()
        var configuration = ServerConfiguration(repository: repository.root, listen: "inproc://unused", workers: 1)
        configuration.maxBatchSize = 4
        configuration.maxQueueDelay = .milliseconds(5)
        let client = try InMemoryClient(configuration: configuration)
        let bytes = try [UInt8](Data(contentsOf: Fixtures.exampleRepository.appendingPathComponent("purchase_propensity/1/model.onnx")))
        let push = Zserve_V1_PushModelRequest.with {
            $0.model = "purchase_propensity"
            $0.totalSize = UInt64(bytes.count)
            $0.sha256 = Data(SHA256.hash(data: bytes))
            $0.data = Data(bytes)
            $0.commit = true
        }
        #expect(throws: ServingError.self) {
            try client.call(.pushModel, push, as: Zserve_V1_PushModelResponse.self)
        }
        let pushed = try client.call(.pushModel, push, admin: true, as: Zserve_V1_PushModelResponse.self)
        #expect(pushed.version == 2)
        #expect(try client.modelStatus("purchase_propensity").defaultVersion == 2)
        #expect(try client.predict(propensityRequest(id: "after-push")).version == 2, "a lone request leaves after the delay")
    }
}
