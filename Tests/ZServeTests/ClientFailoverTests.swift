import Foundation
import ServingProtocol
import Synchronization
import Testing
import ZServeClient
import ZeroMQ

/// The Swift client's retry policy agrees with the C and Python clients': a call that can no longer be resent is not
/// ended by a lost connection — the server holding it may still answer.
@Suite struct ClientFailoverTests {
    /// A ROUTER on a free loopback port, on its own thread, answering every request NOT_FOUND with its name; told to
    /// hold the next request, it answers that one only when released. `close()` closes its socket: the client's
    /// connection to it is lost.
    final class StandIn: @unchecked Sendable {  // state behind `state`'s lock; the socket only on the thread
        let name: String
        private(set) var endpoint: String
        private let state = Mutex((holdNext: false, answered: 0, stop: false))
        private let held = DispatchSemaphore(value: 0)
        private let release = DispatchSemaphore(value: 0)
        private let stopped = DispatchSemaphore(value: 0)

        init(_ name: String, context: Context) throws {
            self.name = name
            // The socket is made, used and closed on the stand-in's thread (sockets are not Sendable).
            let bound = Mutex<Result<String, any Error>?>(nil)
            let ready = DispatchSemaphore(value: 0)
            endpoint = ""
            Thread { [self] in
                do {
                    let socket = try Socket(context: context, type: .router)
                    try socket.bind("tcp://127.0.0.1:*")
                    bound.withLock { $0 = .success(socket.lastEndpoint) }
                    ready.signal()
                    serve(socket)
                } catch {
                    bound.withLock { $0 = .failure(error) }
                    ready.signal()
                    stopped.signal()
                }
            }.start()
            ready.wait()
            endpoint = try bound.withLock { $0! }.get()
        }

        var answered: Int { state.withLock { $0.answered } }

        func holdNext() { state.withLock { $0.holdNext = true } }

        /// Waits until a held request arrived.
        func waitForHeld() -> Bool { held.wait(timeout: .now() + 10) == .success }

        func releaseHeld() { release.signal() }

        /// Stops the thread and closes the socket (once; later calls return at once).
        func close() {
            let first = state.withLock { state in
                defer { state.stop = true }
                return !state.stop
            }
            if first { _ = stopped.wait(timeout: .now() + 10) }
        }

        private func serve(_ socket: Socket) {
            defer { socket.close(); stopped.signal() }
            let poller = Poller([socket])
            while !state.withLock({ $0.stop }) {
                guard (try? poller.poll(timeoutMilliseconds: 20))?[0] == true,
                      let frames = try? socket.receive(wait: false), let delimiter = frames.firstIndex(of: [])
                else { continue }
                let hold = state.withLock { state in
                    defer { state.holdNext = false }
                    return state.holdNext
                }
                if hold {
                    held.signal()
                    release.wait()
                }
                let status = (try? Zserve_V1_Status.with {
                    $0.code = .notFound
                    $0.message = hold ? "\(name), held" : name
                }.serializedBytes()) ?? []
                _ = try? socket.send(Array(frames[...delimiter]) + [status, []])
                state.withLock { $0.answered += 1 }
            }
        }
    }

    /// Hands the client to the one thread that calls while the test thread only waits and signals.
    final class Caller: @unchecked Sendable {
        let client: Client

        init(client: Client) {
            self.client = client
        }
    }

    /// Which stand-in answered a call (its message), or the failure's code name.
    static func outcome(_ client: Client) -> String {
        do {
            _ = try client.call(.serverReady, Zserve_V1_ServerReadyRequest(), as: Zserve_V1_ServerReadyResponse.self)
            return "OK"
        } catch let failure as Client.Failure {
            if case .status(let error) = failure, error.code == .notFound { return error.message }
            return failure.codeName
        } catch {
            return "\(error)"
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func aCallThatCannotBeResentWaitsForItsReplyWhenAnotherConnectionIsLost() throws {
        let context = try Context()
        let holder = try StandIn("a", context: context)
        let leaving = try StandIn("b", context: context)
        defer { holder.close(); leaving.close() }
        let client = try Client(endpoints: [holder.endpoint, leaving.endpoint], timeoutMilliseconds: 10_000, retries: 0)
        // Round-robin over the connected servers: call until both have answered, so both handshakes completed.
        for _ in 0..<200 where holder.answered == 0 || leaving.answered == 0 {
            #expect(["a", "b"].contains(Self.outcome(client)))
        }
        #expect(holder.answered > 0 && leaving.answered > 0, "both servers answered")

        holder.holdNext()
        let result = Mutex<String?>(nil)
        let done = DispatchSemaphore(value: 0)
        let caller = Caller(client: client)
        Thread {
            // Calls that reach "b" are answered at once; the one that reaches "a" is held there.
            var outcome = "b"
            for _ in 0..<20 where outcome == "b" { outcome = Self.outcome(caller.client) }
            result.withLock { $0 = outcome }
            done.signal()
        }.start()
        #expect(holder.waitForHeld(), "a call reached the holding server")
        leaving.close()  // a connection that completed its handshake is lost while the call waits on "a"
        #expect(done.wait(timeout: .now() + .milliseconds(500)) == .timedOut, "the call does not end with the lost connection")
        holder.releaseHeld()
        #expect(done.wait(timeout: .now() + 10) == .success)
        #expect(result.withLock { $0 } == "a, held", "the held call gets its own server's reply")
    }
}
