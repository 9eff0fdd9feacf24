import Testing
@testable import ZeroMQ

/// Messages received into one buffer (`Socket.receivePacked`) hold exactly the frames sent, however many and however
/// large, and `PackedFrames` reads back what it packs and refuses what it did not.
@Suite struct PackedFramesTests {
    let context: Context

    init() throws {
        context = try Context()
    }

    /// A connected PUSH → PULL pair over inproc (`name` unique per test).
    func pair(_ name: String) throws -> (push: Socket, pull: Socket) {
        let pull = try Socket(context: context, type: .pull)
        try pull.bind("inproc://\(name)")
        let push = try Socket(context: context, type: .push)
        try push.connect("inproc://\(name)")
        return (push, pull)
    }

    @Test(arguments: [1, 2, 15, 16, 17, 33, 100])
    func everyFrameArrivesInOrderWhateverTheirNumber(_ count: Int) throws {
        let (push, pull) = try pair("packed-\(count)")
        defer { push.close(); pull.close() }
        // Empty, one-byte, small and larger-than-inline (33 bytes) frames.
        let frames = (0..<count).map { index in [UInt8](repeating: UInt8(index % 251), count: [0, 1, 7, 34, 300][index % 5]) }
        try push.send(frames)
        let received = try #require(try pull.receivePacked())
        #expect(!received.isTruncated)
        #expect(received.frames.frames == frames)
        #expect(received.frames.count == count)
        #expect(received.frames == PackedFrames(frames), "the same encoding as packing the frames directly")
    }

    @Test func framesPastTheLimitAreReadAndDropped() throws {
        let (push, pull) = try pair("packed-limit")
        defer { push.close(); pull.close() }
        try push.send((0..<30).map { [UInt8($0)] })
        try push.send([[99]])
        let first = try #require(try pull.receivePacked(frameLimit: 20))
        #expect(first.isTruncated && first.frames.frames == (0..<20).map { [UInt8($0)] })
        let second = try #require(try pull.receivePacked(frameLimit: 20))
        #expect(!second.isTruncated && second.frames.frames == [[99]], "the dropped frames did not leak into the next message")
        #expect(try pull.receivePacked(wait: false) == nil)
    }

    @Test func splitAndAfterFirstShareTheFrames() {
        let packed: PackedFrames = [[1], [], [2, 3], [4]]
        let (head, tail) = packed.split(at: 2)
        #expect(head.frames == [[1], []] && tail.frames == [[2, 3], [4]])
        #expect(packed.split(at: 9).0 == packed && packed.split(at: 9).1.count == 0)
        #expect(packed.afterFirst.frames == [[], [2, 3], [4]])
        #expect(packed.first == [1] && PackedFrames([]).first == nil)
    }

    @Test func validationRefusesBytesThatAreNotWholeFrames() {
        let bytes = PackedFrames([[1, 2, 3], [], [4]]).bytes
        #expect(PackedFrames(validating: bytes) == PackedFrames([[1, 2, 3], [], [4]]))
        #expect(PackedFrames(validating: [])?.count == 0)
        for length in 1..<bytes.count where ![7, 11].contains(length) {  // 7 and 11 end on a frame boundary
            #expect(PackedFrames(validating: bytes.prefix(length)) == nil, "cut to \(length) bytes")
        }
        #expect(PackedFrames(validating: [255, 255, 255, 255, 0]) == nil, "a length past the end")
    }
}
