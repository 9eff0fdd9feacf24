import Foundation
import Testing
@testable import ZeroMQ

@Suite struct SocketTests {
    let context: Context

    init() throws {
        context = try Context()
    }

    /// A ROUTER bound to a free loopback port, and its endpoint.
    func boundRouter(maxMessageSize: Int64 = -1) throws -> (Socket, String) {
        let router = try Socket(context: context, type: .router)
        // Options reach connections accepted after they are set, so they go before bind.
        try router.setMaxMessageSize(maxMessageSize)
        try router.bind("tcp://127.0.0.1:*")
        return (router, router.lastEndpoint)
    }

    @Test func lastEndpointReportsTheRealPort() throws {
        let (router, endpoint) = try boundRouter()
        defer { router.close() }
        #expect(endpoint.hasPrefix("tcp://127.0.0.1:"))
        let port = Int(endpoint.split(separator: ":").last ?? "") ?? 0
        #expect(port > 0)
    }

    @Test func requestReachesRouterWithIdentityAndDelimiterAndReplyComesBack() throws {
        let (router, endpoint) = try boundRouter()
        let request = try Socket(context: context, type: .request)
        defer { request.close(); router.close() }
        try request.setReceiveTimeout(5000)
        try router.setReceiveTimeout(5000)
        try request.connect(endpoint)

        try request.send([Array("method".utf8), [1, 2, 3]])
        let received = try #require(try router.receive())
        #expect(received.count == 4)
        #expect(!received[0].isEmpty, "ROUTER prefixes the peer's routing id")
        #expect(received[1].isEmpty, "REQ adds the empty delimiter")
        #expect(received[2] == Array("method".utf8))
        #expect(received[3] == [1, 2, 3])

        try router.send([received[0], [], [9], []])
        let reply = try #require(try request.receive())
        #expect(reply == [[9], []], "REQ strips the delimiter; empty frames survive")
    }

    @Test func dealerKeepsManyRequestsInFlightInOrder() throws {
        let (router, endpoint) = try boundRouter()
        let dealer = try Socket(context: context, type: .dealer)
        defer { dealer.close(); router.close() }
        try dealer.setReceiveTimeout(5000)
        try router.setReceiveTimeout(5000)
        try dealer.connect(endpoint)
        for i in 0..<50 { try dealer.send([[], [UInt8(i)]]) }
        for i in 0..<50 {
            let frames = try #require(try router.receive())
            #expect(frames.count == 3)
            #expect(frames[2] == [UInt8(i)])
            try router.send([frames[0], [], frames[2]])
        }
        for i in 0..<50 {
            #expect(try dealer.receive() == [[], [UInt8(i)]])
        }
    }

    @Test func nonBlockingReceiveOnAnEmptySocketReturnsNil() throws {
        let (router, _) = try boundRouter()
        defer { router.close() }
        #expect(try router.receive(wait: false) == nil)
    }

    @Test func receiveTimeoutReturnsNil() throws {
        let (router, _) = try boundRouter()
        defer { router.close() }
        try router.setReceiveTimeout(20)
        #expect(try router.receive() == nil)
    }

    @Test func pollerReportsOnlyTheReadableSocket() throws {
        let pull = try Socket(context: context, type: .pull)
        let idle = try Socket(context: context, type: .pull)
        let push = try Socket(context: context, type: .push)
        defer { push.close(); pull.close(); idle.close() }
        try pull.bind("inproc://poller-test")
        try idle.bind("inproc://poller-idle")
        try push.connect("inproc://poller-test")
        let poller = Poller([pull, idle])
        #expect(Array(try poller.poll(timeoutMilliseconds: 0)) == [false, false])
        try push.send([[42]])
        #expect(Array(try poller.poll(timeoutMilliseconds: 5000)) == [true, false])
        #expect(try pull.receive() == [[42]])
    }

    /// `zserve bench --socket req` polls one socket per request in flight: 64 and more.
    @Test(arguments: [63, 64, 65, 130])
    func pollerReportsReadableSocketsBeyondSixtyFour(_ count: Int) throws {
        let pulls = try (0..<count).map { index in
            let pull = try Socket(context: context, type: .pull)
            try pull.bind("inproc://poller-many-\(count)-\(index)")
            return pull
        }
        let push = try Socket(context: context, type: .push)
        defer { push.close(); for pull in pulls { pull.close() } }
        let readable = Set([0, count / 2, 62, 63, 64, count - 1].filter { $0 < count })
        for index in readable.sorted() {
            try push.connect("inproc://poller-many-\(count)-\(index)")
            try push.send([[UInt8(index % 256)]])
            try push.disconnect("inproc://poller-many-\(count)-\(index)")
        }
        let poller = Poller(pulls)
        let polled = try poller.poll(timeoutMilliseconds: 5000)
        #expect(polled.count == count)
        #expect(Set(polled.indices.filter { polled[$0] }) == readable)
    }

    @Test(.timeLimit(.minutes(1)))
    func subMillisecondWaitsEndWhenTheirTimerFiresAndStillSeeMessages() throws {
        let pull = try Socket(context: context, type: .pull)
        let push = try Socket(context: context, type: .push)
        defer { push.close(); pull.close() }
        try pull.bind("inproc://poller-timer")
        try push.connect("inproc://poller-timer")
        let poller = Poller([pull])
        // Nothing to read: each wait ends by its timer (the wait itself has no other timeout), and again after
        // the previous expiry was cleared.
        for _ in 0..<200 { #expect(Array(try poller.poll(timeoutNanoseconds: 50_000)) == [false]) }
        try push.send([[7]])
        #expect(Array(try poller.poll(timeoutNanoseconds: 250_000)) == [true])
        #expect(try pull.receive() == [[7]])
        // Whole milliseconds and long waits take zmq_poll's own timeout; zero does not wait.
        #expect(Array(try poller.poll(timeoutNanoseconds: 1_000_000)) == [false])
        #expect(Array(try poller.poll(timeoutNanoseconds: 0)) == [false])
        try push.send([[8]])
        #expect(Array(try poller.poll(timeoutNanoseconds: 20_000_000)) == [true])
    }

    @Test func oversizedMessageIsDroppedAndOtherPeersAreStillServed() throws {
        let (router, endpoint) = try boundRouter(maxMessageSize: 1024)
        try router.setReceiveTimeout(300)
        let big = try Socket(context: context, type: .dealer)
        let small = try Socket(context: context, type: .dealer)
        defer { big.close(); small.close(); router.close() }
        try big.connect(endpoint)
        try small.connect(endpoint)

        try big.send([[UInt8](repeating: 7, count: 4096)])
        #expect(try router.receive() == nil, "libzmq drops the message and the connection")
        try small.send([[1]])
        try router.setReceiveTimeout(5000)
        let frames = try #require(try router.receive())
        #expect(frames.last == [1])
    }

    @Test func bindingAnInvalidEndpointThrowsADescriptiveError() throws {
        let socket = try Socket(context: context, type: .router)
        defer { socket.close() }
        #expect {
            try socket.bind("nonsense://here")
        } throws: { error in
            (error as? ZMQError).map { !$0.description.isEmpty } ?? false
        }
    }

    @Test func contextShutdownInterruptsABlockingReceiveOnAnotherThread() async throws {
        let context = try Context()
        let outcome = await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
            let thread = Thread {
                do {
                    let socket = try Socket(context: context, type: .pull)
                    defer { socket.close() }
                    try socket.bind("inproc://blocked")
                    _ = try socket.receive()
                    continuation.resume(returning: false)
                } catch let error as ZMQError {
                    continuation.resume(returning: error.isContextTerminated)
                } catch {
                    continuation.resume(returning: false)
                }
            }
            thread.start()
            Thread.sleep(forTimeInterval: 0.05)
            context.shutdown()
        }
        #expect(outcome, "the blocked receive fails with ETERM")
        context.terminate()
    }

    @Test func libraryHasCurve() {
        #expect(Context.libraryVersion.major == 4)
        #expect(Context.has("curve"))
    }
}
