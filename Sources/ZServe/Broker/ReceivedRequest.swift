import ServingProtocol
import ZeroMQ

/// A request as the server's ROUTER received it, `[routing...][empty][method][payload]` (`Envelope`), viewed where
/// it lies in the received buffer.
struct ReceivedRequest {
    /// The frames before the delimiter; the reply carries them back unchanged.
    let routing: PackedFrames
    let method: Method
    let payload: ArraySlice<UInt8>

    /// Why frames are not a request, with the routing frames needed to answer.
    struct Rejection: Error {
        let routing: PackedFrames
        let error: ServingError
    }

    /// Most frames a well-formed request has: routing frames, the delimiter, method and payload.
    static let frameLimit = Envelope.maximumRoutingFrames + 3

    /// Splits frames received on a ROUTER into routing frames, method and payload.
    ///
    /// - Parameter truncated: whether more than `frameLimit` frames arrived (the rest were discarded).
    /// - Returns: the request, or a rejection: INVALID_ARGUMENT for a missing delimiter or a wrong frame count,
    ///   UNIMPLEMENTED for an unknown service or method. Without a delimiter only the ROUTER's routing id is kept.
    static func parse(_ frames: PackedFrames, truncated: Bool = false) -> Result<ReceivedRequest, Rejection> {
        var count = 0
        var delimiter: Int?
        for frame in frames {
            if delimiter == nil, count > 0, frame.isEmpty { delimiter = count }
            count += 1
        }
        let (routing, rest) = frames.split(at: delimiter ?? min(1, count))
        func reject(_ code: Zserve_V1_Code, _ message: String) -> Result<ReceivedRequest, Rejection> {
            .failure(Rejection(routing: routing, error: ServingError(code, message)))
        }
        guard let delimiter else {
            return reject(.invalidArgument, "expected frames [empty][method][payload]: the empty delimiter frame is missing")
        }
        guard delimiter <= Envelope.maximumRoutingFrames else {
            return reject(.invalidArgument, "\(delimiter) routing frames before the empty delimiter, more than \(Envelope.maximumRoutingFrames) (the ROUTER's routing id included)")
        }
        let after = count - delimiter - 1
        guard !truncated, after == 2 else {
            let got = truncated ? "more than \(frameLimit - delimiter - 1)" : "\(after)"
            return reject(.invalidArgument, "expected frames [empty][method][payload], got \(got) frame(s) after the delimiter")
        }
        var body = rest.afterFirst.makeIterator()
        let methodFrame = body.next()!, payload = body.next()!
        guard let method = Method(frame: methodFrame) else {
            let path = String(decoding: methodFrame.prefix(200), as: UTF8.self)
            let service = path.split(separator: "/").first.map(String.init) ?? ""
            let what = Method.services.contains(service) ? "method" : "service"
            return reject(.unimplemented, "unknown \(what) in '\(path)'")
        }
        return .success(ReceivedRequest(routing: routing, method: method, payload: payload))
    }
}
