import ProtobufWire
import ServingProtocol
import SwiftProtobuf

/// The outcome of one RPC: a status and, when OK, the encoded response.
struct Reply {
    let status: Zserve_V1_Status
    let response: [UInt8]

    /// An OK reply carrying `message`.
    static func ok(_ message: some SwiftProtobuf.Message, requestID: String = "") -> Reply {
        do {
            let bytes: [UInt8] = try message.serializedBytes()
            return Reply(status: .with { $0.code = .ok; $0.requestID = requestID }, response: bytes)
        } catch {
            return .error(ServingError(.internal, "cannot encode the response: \(error)"), requestID: requestID)
        }
    }

    /// A failed reply.
    static func error(_ error: ServingError, requestID: String = "") -> Reply {
        Reply(status: error.status(requestID: requestID), response: [])
    }

    /// The encoded status frame.
    var statusFrame: [UInt8] {
        if status.code == .ok && status.message.isEmpty {
            // The common case written directly: only field 3, request_id (code OK is the default, left out).
            var writer = WireWriter(capacity: status.requestID.utf8.count + 6)
            if !status.requestID.isEmpty { writer.appendStringField(3, status.requestID) }
            return writer.finish()
        }
        // A Status holds an enum and two strings: encoding it cannot fail.
        return (try? status.serializedBytes()) ?? []
    }
}

/// Decodes a request payload, turning protobuf errors into INVALID_ARGUMENT.
func decodeRequest<M: SwiftProtobuf.Message>(_ type: M.Type, from payload: ArraySlice<UInt8>) throws(ServingError) -> M {
    do {
        return try M(serializedBytes: payload)
    } catch {
        throw ServingError(.invalidArgument, "payload is not a valid \(M.protoMessageName): \(error)")
    }
}
