import Foundation
import ServingProtocol
import SwiftProtobuf
import Testing
import ZServeClient
import ZServeTesting
import ZeroMQ

/// Every malformed request gets a precise status, and the server keeps serving.
@Suite(.serialized) struct BadInputTests {
    struct Case: CustomStringConvertible, Sendable {
        let description: String
        let frames: [[UInt8]]
        let code: Zserve_V1_Code
        /// The request id the reply must echo ("" when the request could not be decoded).
        var requestID = ""
    }

    static func predict(_ id: String, _ edit: (inout Zserve_V1_PredictRequest) -> Void) -> [[UInt8]] {
        var request = propensityRequest(id: id)
        edit(&request)
        return try! Envelope.request(.predict, request)
    }

    static let predictMethod = Method.predict.frame

    static let cases: [Case] = {
        let good = try! propensityRequest(id: "t").serializedBytes() as [UInt8]
        return [
            Case(description: "payload that is not protobuf", frames: [[], predictMethod, [0xff, 0xff, 0xff]], code: .invalidArgument),
            Case(description: "truncated payload", frames: [[], predictMethod, Array(good.prefix(good.count / 2))], code: .invalidArgument),
            Case(description: "missing payload frame", frames: [[], predictMethod], code: .invalidArgument),
            Case(description: "extra frame", frames: [[], predictMethod, good, [1]], code: .invalidArgument),
            Case(description: "no empty delimiter", frames: [predictMethod, good], code: .invalidArgument),
            Case(description: "unknown method", frames: [[], Array("zserve.v1.Inference/Nope".utf8), good], code: .unimplemented),
            Case(description: "unknown service", frames: [[], Array("foo.Bar/Baz".utf8), good], code: .unimplemented),
            Case(description: "unknown model", frames: predict("m") { $0.model.name = "nope" }, code: .notFound, requestID: "m"),
            Case(description: "unknown version", frames: predict("v") { $0.model.version = 7 }, code: .notFound, requestID: "v"),
            Case(description: "negative version", frames: predict("nv") { $0.model.version = -1 }, code: .invalidArgument, requestID: "nv"),
            Case(description: "unknown label", frames: predict("l") { $0.model.label = "canary" }, code: .notFound, requestID: "l"),
            Case(description: "empty model name", frames: predict("e") { $0.model.name = "" }, code: .invalidArgument, requestID: "e"),
            Case(description: "missing input", frames: predict("mi") { $0.inputs = [] }, code: .invalidArgument, requestID: "mi"),
            Case(description: "extra input", frames: predict("x") { $0.inputs.append(wireTensor("other", [1], [1])) }, code: .invalidArgument, requestID: "x"),
            Case(description: "duplicated input", frames: predict("d") { $0.inputs.append($0.inputs[0]) }, code: .invalidArgument, requestID: "d"),
            Case(description: "wrong dtype", frames: predict("t") { $0.inputs[0].dtype = .int64; $0.inputs[0].shape = [1, 8] }, code: .invalidArgument, requestID: "t"),
            Case(description: "wrong rank", frames: predict("r") { $0.inputs[0].shape = [16] }, code: .invalidArgument, requestID: "r"),
            Case(description: "wrong fixed dimension", frames: predict("s") { $0.inputs[0] = wireTensor("features", [Float](repeating: 0, count: 14), [2, 7]) }, code: .invalidArgument, requestID: "s"),
            Case(description: "byte count not shape × dtype", frames: predict("b") { $0.inputs[0].shape = [3, 8] }, code: .invalidArgument, requestID: "b"),
            Case(description: "negative dimension", frames: predict("n") { $0.inputs[0].shape = [-2, -8] }, code: .invalidArgument, requestID: "n"),
            Case(description: "overflowing shape", frames: predict("o") { $0.inputs[0].shape = [Int64.max, 8] }, code: .invalidArgument, requestID: "o"),
            Case(description: "unspecified dtype", frames: predict("u") { $0.inputs[0].dtype = .unspecified }, code: .invalidArgument, requestID: "u"),
            Case(description: "unknown output name", frames: predict("on") { $0.outputNames = ["nope"] }, code: .invalidArgument, requestID: "on"),
        ]
    }()

    static let server = Result { try RunningServer(repository: try standardRepository()) }

    @Test(arguments: cases)
    func isAnsweredPreciselyAndTheServerKeepsServing(_ bad: Case) throws {
        let running = try Self.server.get()
        let (status, response) = try parseReply(try running.exchange(bad.frames))
        #expect(status.code == bad.code, "\(status.message)")
        #expect(!status.message.isEmpty)
        #expect(status.requestID == bad.requestID)
        #expect(response.isEmpty)
        #expect(try running.client().predict(propensityRequest()).outputs.count == 1)
    }

    @Test func oversizedMessageIsDroppedByLibzmqAndOthersAreServed() throws {
        let running = try RunningServer(repository: try standardRepository()) { $0.maxMessageSize = 64 * 1024 }
        let huge = Self.predict("big") { $0.inputs[0] = wireTensor("features", [Float](repeating: 1, count: 8 * 4096), [4096, 8]) }
        #expect(try running.exchange(huge, timeout: 500) == nil, "no reply: libzmq dropped the connection")
        #expect(try running.client().predict(propensityRequest()).outputs.count == 1)
    }

    @Test func leadingSlashInTheMethodIsAccepted() throws {
        let running = try Self.server.get()
        let frames: [[UInt8]] = [[], Array("/zserve.v1.Inference/Predict".utf8), try propensityRequest(id: "slash").serializedBytes()]
        let (status, _) = try parseReply(try running.exchange(frames))
        #expect(status.code == .ok)
        #expect(status.requestID == "slash")
    }
}
