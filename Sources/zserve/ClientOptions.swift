import ArgumentParser
import Foundation
import ZServeClient
import ZeroMQ

/// Options every client subcommand shares.
struct ClientOptions: ParsableArguments {
    @Option(help: "Server endpoint, e.g. tcp://127.0.0.1:7070 (the default); repeat it for several servers: read-only calls fail over, state changes (push, label, rollback, load, unload, scale) go to each.")
    var endpoint: [String] = []

    /// The endpoints given, or the default one.
    var endpoints: [String] { endpoint.isEmpty ? ["tcp://127.0.0.1:7070"] : endpoint }

    @Option(name: .customLong("timeout-ms"), help: "How long to wait for the reply.")
    var timeoutMilliseconds: Int32 = 30_000

    @Option(name: .customLong("server-public-key"), help: "The server's public key file (CURVE; with --client-key).")
    var serverPublicKey: String?

    @Option(name: .customLong("client-key"), help: "This client's secret key file from `zserve keygen` (CURVE).")
    var clientKey: String?

    func validate() throws {
        guard (serverPublicKey == nil) == (clientKey == nil) else {
            throw ValidationError("--server-public-key and --client-key go together")
        }
    }

    /// The CURVE credentials from the key files, or nil without them.
    func curveCredentials() throws -> CurveClientCredentials? {
        guard let serverPublicKey, let clientKey else { return nil }
        do {
            return try CurveClientCredentials(serverPublicKeyFile: serverPublicKey, clientKeyFile: clientKey)
        } catch {
            throw ValidationError("\(error)")
        }
    }

    func makeClient() throws -> Client {
        try Client(endpoints: endpoints, timeoutMilliseconds: timeoutMilliseconds, curve: curveCredentials())
    }

    /// Runs a state-changing call against every server in turn, each over a client of its own (one client over
    /// several endpoints would hand each call to one of them), and prints its JSON: as it is for one server, else
    /// `{endpoint: result or {"error": "CODE: message"}}`. Exits 1 when any server refused.
    func onEveryServer(_ call: (Client) throws -> Any) throws {
        guard endpoints.count > 1 else { return try reportingFailures { try printJSON(try call(try makeClient())) } }
        var results: [String: Any] = [:]
        var failed = false
        for endpoint in endpoints {
            do {
                results[endpoint] = try call(try Client(endpoints: [endpoint], timeoutMilliseconds: timeoutMilliseconds, curve: curveCredentials()))
            } catch let failure as Client.Failure {
                results[endpoint] = ["error": "\(failure)"]
                failed = true
            }
        }
        try printJSON(results)
        if failed { throw ExitCode(1) }
    }
}

/// Runs a client call; on failure prints "CODE: message" on stderr and exits non-zero.
func reportingFailures<T>(_ body: () throws -> T) throws -> T {
    do {
        return try body()
    } catch let failure as Client.Failure {
        FileHandle.standardError.write(Data("\(failure)\n".utf8))
        throw ExitCode(1)
    } catch let error as JSONTensors.FormatError {
        FileHandle.standardError.write(Data("INVALID_ARGUMENT: \(error)\n".utf8))
        throw ExitCode(2)
    }
}

/// Writes `object` as one line of JSON on stdout.
func printJSON(_ object: Any) throws {
    let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
    FileHandle.standardOutput.write(data + Data("\n".utf8))
}
