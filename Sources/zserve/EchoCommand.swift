import ArgumentParser
import Dispatch
import Foundation
import ZServeClient

/// `zserve echo`: a raw libzmq echo, the floor benchmarks measure servers against.
struct EchoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "echo",
        abstract: "Answer every request OK with its own payload, decoding nothing: the raw libzmq floor for benchmarks.",
        discussion: """
            One socket on one thread: ROUTER (DEALER and REQ clients, many requests in flight) or REP (one request at a
            time). Prints {"event": "ready", "listen": ENDPOINT} on stdout once bound, then answers until killed.
            Drive it with `zserve bench --model-file MODEL.onnx` (it cannot answer metadata).
            """
    )

    @Option(help: "Endpoint to bind; port 0 picks a free one.")
    var listen = "tcp://127.0.0.1:0"

    @Option(help: "Socket type: router or rep.")
    var socket: RawEchoServer.Kind = .router

    func run() throws {
        let bind = listen.hasSuffix(":0") ? String(listen.dropLast()) + "*" : listen
        let echo: RawEchoServer
        do {
            echo = try RawEchoServer(kind: socket, bind: bind)
        } catch {
            throw ValidationError("cannot bind \(listen): \(error)")
        }
        try printJSON(["event": "ready", "listen": echo.endpoint, "socket": socket.rawValue])
        // Answers on its own thread until the process is killed (SIGTERM's default action ends it).
        while true { sleep(3600) }
    }
}

extension RawEchoServer.Kind: ExpressibleByArgument {}
