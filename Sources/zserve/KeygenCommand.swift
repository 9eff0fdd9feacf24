import ArgumentParser
import Foundation
import ZeroMQ

/// `zserve keygen`: a new CurveZMQ key pair for a server, an operator, the trainer or a worker.
struct KeygenCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keygen",
        abstract: "Write a new CURVE key pair: PREFIX.key (secret, mode 0600) and PREFIX.pub (public).",
        discussion: """
            Both files are ZeroMQ certificates (CZMQ's format, which pyzmq's zmq.auth.load_certificate reads).
            Give the server its .key (serve --server-key); copy a client's .pub into the server's --admin-keys
            (or --frontend-keys / --worker-keys) directory; give the client its .key and the server's .pub
            (--client-key, --server-public-key). Existing files are never overwritten.
            """
    )

    @Option(help: "Path prefix of the two files, e.g. keys/trainer.")
    var out: String

    func run() throws {
        guard CurveKeyPair.isAvailable else { throw ValidationError("this libzmq was built without CURVE") }
        let keys = try CurveKeyPair.generate()
        do {
            try CurveCertificate.write(keys, prefix: out)
        } catch {
            FileHandle.standardError.write(Data("\(error)\n".utf8))
            throw ExitCode(1)
        }
        print(keys.publicKey)
    }
}
