import Foundation
import Inference
import ServingProtocol
import Testing
import ZServe
import ZServeClient
import ZServeTesting
import ZeroMQ

/// A real server, real sockets, real ONNX files: what a service calling ZServe sees.
@Suite struct EndToEndTests {
    @Test func reqClientGetsOnnxruntimeOutputsFromSeveralModels() throws {
        let running = try RunningServer(repository: try standardRepository())
        let client = try running.client()
        let references = Fixtures.referenceCases().filter { ["ctr_mlp", "multi_output_two_heads", "multi_input_concat"].contains($0.name) }
        try #require(references.count == 3)
        for reference in references {
            let dataSet = try #require(try reference.dataSets().first)
            let response = try client.predict(.with {
                $0.id = "ref-\(reference.name)"
                $0.model.name = reference.name
                $0.inputs = dataSet.inputs.map { name, tensor in
                    .with {
                        $0.name = name
                        $0.dtype = Zserve_V1_DataType(rawValue: Int(tensor.elementType.rawValue))!
                        $0.shape = tensor.shape.map { Int64($0) }
                        $0.rawData = Data(tensor.bytes)
                    }
                }
            })
            #expect(response.id == "ref-\(reference.name)")
            #expect(response.model == reference.name)
            #expect(response.version == 1)
            #expect(response.outputs.map(\.name) == dataSet.outputs.map(\.0))
            for (wire, (name, expected)) in zip(response.outputs, dataSet.outputs) {
                let mismatch = Tolerance.mismatch(try tensor(wire), expected)
                #expect(mismatch == nil, "\(reference.name).\(name): \(mismatch ?? "")")
            }
        }
        let propensity = try client.predict(propensityRequest(rows: 3))
        #expect(propensity.outputs.first?.shape == [3, 1])
    }

    @Test func dealerClientPipelinesAHundredRequestsMatchedById() throws {
        let running = try RunningServer(repository: try standardRepository())
        let context = try Context()
        let dealer = try Socket(context: context, type: .dealer)
        defer { dealer.close() }
        try dealer.setReceiveTimeout(10_000)
        try dealer.connect(running.endpoint)

        var rowsByID: [String: Int] = [:]
        for i in 0..<100 {
            let rows = i % 5 + 1
            rowsByID["req-\(i)"] = rows
            try dealer.send(try Envelope.request(.predict, propensityRequest(id: "req-\(i)", rows: rows)))
        }
        var seen = Set<String>()
        for _ in 0..<100 {
            let (status, payload) = try parseReply(try dealer.receive())
            #expect(status.code == .ok)
            let response = try Zserve_V1_PredictResponse(serializedBytes: payload)
            #expect(status.requestID == response.id)
            #expect(seen.insert(response.id).inserted, "each id answered once")
            let rows = try #require(rowsByID[response.id])
            #expect(response.outputs.first?.shape == [Int64(rows), 1])
        }
        #expect(seen.count == 100)
    }

    @Test func controlMethodsDescribeTheModels() throws {
        let running = try RunningServer(repository: try standardRepository())
        let client = try running.client()
        let ready: Zserve_V1_ServerReadyResponse = try client.call(.serverReady, Zserve_V1_ServerReadyRequest())
        #expect(ready.ready)
        let metadata = try client.modelMetadata(name: "purchase_propensity")
        #expect(metadata.version == 1)
        #expect(metadata.availableVersions == [1])
        #expect(metadata.inputs.map(\.name) == ["features"])
        #expect(metadata.inputs.first?.shape == [-1, 8])
        #expect(metadata.inputs.first?.dtype == .float32)
        #expect(metadata.outputs.map(\.name) == ["probability"])
        let modelReady: Zserve_V1_ModelReadyResponse = try client.call(
            .modelReady, Zserve_V1_ModelReadyRequest.with { $0.model.name = "nope" })
        #expect(!modelReady.ready)
        let list = try client.listModels()
        #expect(list.workers == 2)
        #expect(list.models.map(\.name) == ["ctr_mlp", "multi_input_concat", "multi_output_two_heads", "purchase_propensity"])
        #expect(list.models.allSatisfy { $0.versions.map(\.state) == [.available] })
    }

    @Test func modelsThatFailToLoadAreReportedAndTheRestServe() throws {
        let repository = try standardRepository()
        try repository.add("garbage", bytes: Data("this is not onnx".utf8))
        var unsupported = ONNXGraphBuilder()
        unsupported.input("x", .float32, [1, 4])
        unsupported.node("NotAnOp", ["x"], ["y"])
        unsupported.output("y", .float32, [1, 4])
        try repository.add("unsupported", bytes: try unsupported.serialized())
        // Version 2 of the example is corrupt: version 1 still serves.
        try repository.add("purchase_propensity", version: 2, bytes: Data([1, 2, 3]))

        let running = try RunningServer(repository: repository)
        let client = try running.client()
        let models = Dictionary(uniqueKeysWithValues: try client.listModels().models.map { ($0.name, $0.versions) })
        #expect(models["garbage"]?.map(\.state) == [.failed])
        #expect(models["unsupported"]?.first?.error.contains("NotAnOp") == true)
        #expect(models["purchase_propensity"]?.map(\.state) == [.available, .failed])

        let response = try client.predict(propensityRequest())
        #expect(response.version == 1)
        #expect {
            try client.predict(.with { $0.model.name = "garbage" })
        } throws: { error in
            (error as? Client.Failure)?.codeName == "UNAVAILABLE"
        }
    }

    @Test func fullQueueIsAnsweredResourceExhaustedAndEveryRequestGetsAReply() throws {
        let repository = try TemporaryRepository()
        // One worker, a queue of one: a slow model keeps the worker busy while the rest arrive.
        try repository.add("slow", bytes: try slowModel())
        let running = try RunningServer(repository: repository, workers: 1) { $0.queueCapacity = 1 }

        let context = try Context()
        let dealer = try Socket(context: context, type: .dealer)
        defer { dealer.close() }
        try dealer.setReceiveTimeout(30_000)
        try dealer.connect(running.endpoint)
        for i in 0..<20 {
            try dealer.send(try Envelope.request(.predict, slowRequest(id: "\(i)")))
        }
        var codes: [Zserve_V1_Code: Int] = [:]
        for _ in 0..<20 {
            let (status, _) = try parseReply(try dealer.receive())
            codes[status.code, default: 0] += 1
        }
        #expect(codes.values.reduce(0, +) == 20, "every request is answered")
        #expect(codes[.ok, default: 0] >= 2, "the running and the queued request complete")
        #expect(codes[.resourceExhausted, default: 0] >= 1)
        #expect(Set(codes.keys).isSubset(of: [.ok, .resourceExhausted]))
    }

    @Test func expiredDeadlineIsAnsweredWithoutComputing() throws {
        let running = try RunningServer(repository: try standardRepository())
        var request = propensityRequest(id: "late")
        request.timeoutUs = 1
        let (status, payload) = try parseReply(try running.exchange(try Envelope.request(.predict, request)))
        #expect(status.code == .deadlineExceeded)
        #expect(status.requestID == "late")
        #expect(payload.isEmpty)
    }

    @Test func stopReturnsAndFreesThePort() throws {
        let repository = try standardRepository()
        let running = try RunningServer(repository: repository)
        _ = try running.client().predict(propensityRequest())
        running.server.stop()
        // The same port can be bound again once the server has stopped.
        let again = try RunningServer(repository: repository) { $0.listen = running.endpoint }
        #expect(again.endpoint == running.endpoint)
        _ = try again.client().predict(propensityRequest())
    }
}
