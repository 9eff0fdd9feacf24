import Foundation
import ServingProtocol
import SwiftProtobuf
import ZServe

/// A client that calls a server's request handling directly — no sockets, no threads — with the same typed calls as
/// `ZServeClient.Client`. Failures throw the server's `ServingError`.
///
/// Not thread-safe (one caller at a time, like the server it wraps).
public final class InMemoryClient {
    public let server: InProcessServer

    /// Serves `configuration.repository` in process.
    ///
    /// - Throws: when the repository cannot be read.
    public init(configuration: ServerConfiguration) throws {
        server = try InProcessServer(configuration: configuration)
    }

    /// Serves `repository` with one worker and the server's default flags.
    public convenience init(repository: URL) throws {
        try self.init(configuration: ServerConfiguration(repository: repository, listen: "inproc://unused", workers: 1))
    }

    /// Calls `method` with `request` (on the admin side when `admin`) and decodes the response.
    ///
    /// - Throws: the server's `ServingError` for a non-OK status; `ReplyEnvelope.Malformed` if the response does not
    ///   decode as `Response`.
    public func call<Response: SwiftProtobuf.Message>(
        _ method: ServingProtocol.Method, _ request: some SwiftProtobuf.Message, admin: Bool = false,
        as _: Response.Type = Response.self
    ) throws -> Response {
        try server.call(method, payload: try request.serializedBytes(), admin: admin).decode(as: Response.self)
    }

    /// Runs a prediction.
    public func predict(_ request: Zserve_V1_PredictRequest) throws -> Zserve_V1_PredictResponse {
        try call(.predict, request)
    }

    /// Every model with its versions' states.
    public func listModels() throws -> Zserve_V1_ListModelsResponse {
        try call(.listModels, Zserve_V1_ListModelsRequest())
    }

    /// One model's versions, states, default and labels.
    public func modelStatus(_ model: String) throws -> Zserve_V1_ModelInfo {
        try call(.modelStatus, Zserve_V1_ModelStatusRequest.with { $0.model = model }, as: Zserve_V1_ModelStatusResponse.self).model
    }
}
