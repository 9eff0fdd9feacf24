import Dispatch
import FlyingFox
import Foundation
import Synchronization

/// The HTTP listener for operators: `/metrics` (Prometheus text format), `/healthz` (200 while the server serves) and
/// `/readyz` (200 when ready, 503 with the reasons otherwise).
///
/// FlyingFox runs it on Swift concurrency's threads, apart from the serving threads; `start` and `stop` block the
/// caller until the listener is up or down.
final class MetricsEndpoint: Sendable {
    private let server: HTTPServer
    private let task: Mutex<Task<Void, Error>?> = Mutex(nil)

    /// Binds `host:port` (port 0: any free port).
    ///
    /// - Throws: `ServerConfigurationError` for an address that is not `HOST:PORT` with an IPv4 host.
    init(listen: String, metrics: ServerMetrics, health: ServerHealth, models: ModelRegistry) throws {
        guard let colon = listen.lastIndex(of: ":"), let port = UInt16(listen[listen.index(after: colon)...]) else {
            throw ServerConfigurationError("--metrics-listen must be HOST:PORT, got '\(listen)'")
        }
        let host = String(listen[..<colon])
        let address: sockaddr_in
        do {
            address = try .inet(ip4: host == "localhost" ? "127.0.0.1" : host, port: port)
        } catch {
            throw ServerConfigurationError("--metrics-listen host '\(host)' is not an IPv4 address")
        }
        server = HTTPServer(address: address)
        let text: HTTPHeaders = [.contentType: "text/plain; version=0.0.4; charset=utf-8"]
        let routes: [(HTTPRoute, @Sendable (HTTPRequest) async throws -> HTTPResponse)] = [
            ("GET /metrics", { _ in HTTPResponse(statusCode: .ok, headers: text, body: Data(metrics.render(models: models))) }),
            ("GET /healthz", { _ in
                health.isServing
                    ? HTTPResponse(statusCode: .ok, body: Data("ok\n".utf8))
                    : HTTPResponse(statusCode: .serviceUnavailable, body: Data("not serving\n".utf8))
            }),
            ("GET /readyz", { _ in
                let reasons = health.unreadiness(models: models)
                return reasons.isEmpty
                    ? HTTPResponse(statusCode: .ok, body: Data("ready\n".utf8))
                    : HTTPResponse(statusCode: .serviceUnavailable, body: Data((reasons.joined(separator: "\n") + "\n").utf8))
            }),
        ]
        let server = server
        Self.blocking { for (route, handler) in routes { await server.appendRoute(route, handler: handler) } }
    }

    /// Starts listening; returns the bound `host:port`.
    ///
    /// - Throws: when the address cannot be bound.
    func start() throws -> String {
        let server = server
        task.withLock { $0 = Task { try await server.run() } }
        let bound: Result<String, Error> = Self.blocking {
            do {
                try await server.waitUntilListening(timeout: 10)
                guard case .ip4(let host, let port)? = await server.listeningAddress else {
                    return .failure(ServerConfigurationError("the metrics listener has no IPv4 address"))
                }
                return .success("\(host):\(port)")
            } catch {
                return .failure(error)
            }
        }
        return try bound.get()
    }

    /// Stops listening (open connections are closed).
    func stop() {
        let server = server
        Self.blocking { await server.stop(timeout: 1) }
        task.withLock { $0?.cancel() }
    }

    /// Runs `body` on Swift concurrency's threads and waits for it: the server's own threads are plain threads.
    private static func blocking<T: Sendable>(_ body: @escaping @Sendable () async -> T) -> T {
        let result = Mutex<T?>(nil)
        let done = DispatchSemaphore(value: 0)
        Task {
            let value = await body()
            result.withLock { $0 = value }
            done.signal()
        }
        done.wait()
        return result.withLock { $0! }
    }
}

/// A server setting that cannot be used.
public struct ServerConfigurationError: Error, CustomStringConvertible {
    public let description: String

    init(_ description: String) {
        self.description = description
    }
}
