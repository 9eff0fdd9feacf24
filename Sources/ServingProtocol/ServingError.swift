/// A failed RPC: a gRPC status code and a message for the caller.
public struct ServingError: Error, Equatable, CustomStringConvertible {
    public let code: Zserve_V1_Code
    public let message: String

    public init(_ code: Zserve_V1_Code, _ message: String) {
        self.code = code
        self.message = message
    }

    /// The status message that carries this error on the wire.
    public func status(requestID: String = "") -> Zserve_V1_Status {
        .with {
            $0.code = code
            $0.message = message
            $0.requestID = requestID
        }
    }

    public var description: String { "\(code.name): \(message)" }
}
