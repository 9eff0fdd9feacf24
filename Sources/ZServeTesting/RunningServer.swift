import Foundation
import ServingProtocol
import ZServe
import ZServeClient
import ZeroMQ

/// A real server (sockets, broker, worker threads) on an ephemeral loopback port, stopped when the value goes away:
/// for tests that prove the transport. Tests of request handling alone can use `InMemoryClient`.
public final class RunningServer: Sendable {
    public let server: Server
    public let endpoint: String
    public let adminEndpoint: String?
    /// Keeps the repository alive as long as the server.
    public let repository: TemporaryRepository?

    /// Starts a server on `repository` (or on `root`) with `workers` worker threads, listening on 127.0.0.1 at a free
    /// port; `configure` adjusts the configuration first.
    ///
    /// - Throws: when the server cannot start.
    public init(
        repository: TemporaryRepository?, root: URL? = nil, workers: Int = 2,
        configure: (inout ServerConfiguration) -> Void = { _ in }
    ) throws {
        var configuration = ServerConfiguration(
            repository: root ?? repository!.root, listen: "tcp://127.0.0.1:0", workers: workers)
        configure(&configuration)
        server = try Server(configuration: configuration)
        let endpoints = try server.start()
        endpoint = endpoints.frontend
        adminEndpoint = endpoints.admin
        self.repository = repository
    }

    deinit { server.stop() }

    /// A REQ client of the frontend with a 10 s timeout.
    public func client() throws -> Client {
        try Client(endpoint: endpoint, timeoutMilliseconds: 10_000)
    }

    /// Sends raw frames from a fresh DEALER socket and returns the reply frames, or nil after `timeout` ms.
    public func exchange(_ frames: [[UInt8]], timeout: Int32 = 10_000) throws -> [[UInt8]]? {
        let context = try Context()
        let socket = try Socket(context: context, type: .dealer)
        defer { socket.close() }
        try socket.setReceiveTimeout(timeout)
        try socket.connect(endpoint)
        try socket.send(frames)
        return try socket.receive()
    }
}

