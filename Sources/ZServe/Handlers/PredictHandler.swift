import Foundation
import Inference
import ServingProtocol

/// Serves Predict on one worker thread: decode, select the version, validate inputs against the model, run, encode.
///
/// Not thread-safe: each worker owns one, with its own sessions (activation buffers) per model version; the models
/// themselves are shared through the registry.
final class PredictHandler {
    private let registry: ModelRegistry
    /// One session per servable this worker has run, keyed by servable identity.
    private var sessions: [ObjectIdentifier: Session] = [:]
    /// The servables those sessions belong to, kept to notice when one stops serving.
    private var sessionOwners: [ObjectIdentifier: Servable] = [:]

    init(registry: ModelRegistry) {
        self.registry = registry
    }

    /// Serves one Predict request received at `receivedAt` (`MonotonicClock` nanoseconds).
    func handle(payload: [UInt8], receivedAt: UInt64) -> Reply {
        var requestID = ""
        do throws(ServingError) {
            let request = try decodeRequest(Zserve_V1_PredictRequest.self, from: payload)
            requestID = request.id
            if request.timeoutUs > 0, Self.hasExpired(receivedAt: receivedAt, timeoutMicroseconds: request.timeoutUs) {
                throw ServingError(.deadlineExceeded, "deadline of \(request.timeoutUs) µs passed before the request ran")
            }
            let servable = try registry.resolve(request.model, requestID: request.id)
            let outputs = try run(request, on: servable)
            return .ok(Zserve_V1_PredictResponse.with {
                $0.id = request.id
                $0.model = servable.name
                $0.version = servable.version
                $0.outputs = outputs
            }, requestID: requestID)
        } catch {
            return .error(error, requestID: requestID)
        }
    }

    /// Whether a request received at `receivedAt` with a relative timeout is past its deadline; a timeout too large
    /// to represent never expires.
    static func hasExpired(receivedAt: UInt64, timeoutMicroseconds: UInt64) -> Bool {
        let (timeout, overflow) = timeoutMicroseconds.multipliedReportingOverflow(by: 1000)
        let (deadline, late) = receivedAt.addingReportingOverflow(timeout)
        return !overflow && !late && MonotonicClock.nanoseconds >= deadline
    }

    private func run(_ request: Zserve_V1_PredictRequest, on servable: Servable) throws(ServingError) -> [Zserve_V1_Tensor] {
        let model = servable.model
        let wanted = try outputPositions(request.outputNames, model: model)
        let session = session(for: servable)

        var given = [Bool](repeating: false, count: model.inputs.count)
        for tensor in request.inputs {
            guard let position = model.inputs.firstIndex(where: { $0.name == tensor.name }) else {
                let names = model.inputs.map(\.name).joined(separator: ", ")
                throw ServingError(.invalidArgument, "model '\(servable.name)' has no input '\(tensor.name)' (inputs: \(names))")
            }
            guard !given[position] else {
                throw ServingError(.invalidArgument, "input '\(tensor.name)' is given more than once")
            }
            given[position] = true
            let (elementType, shape) = try TensorCodec.checkedHeader(of: tensor)
            let copied = tensor.rawData.withUnsafeBytes { bytes in
                Result { () throws(InferenceError) in
                    try session.setInput(position, elementType: elementType, shape: shape, copying: bytes)
                }
            }
            if case .failure(let error) = copied { throw Self.servingError(error) }
        }
        if let missing = given.firstIndex(of: false) {
            throw ServingError(.invalidArgument, "input '\(model.inputs[missing].name)' is missing")
        }

        let results: [Tensor]
        do {
            results = try session.run()
        } catch {
            throw Self.servingError(error)
        }
        return wanted.map { TensorCodec.wire(results[$0], name: model.outputs[$0].name) }
    }

    /// The status a runtime error is answered with: the caller's inputs, memory, or a defect.
    static func servingError(_ error: InferenceError) -> ServingError {
        switch error {
        case .invalidInput(let message): ServingError(.invalidArgument, message)
        case .resourceExhausted(let message): ServingError(.resourceExhausted, message)
        default: ServingError(.internal, "\(error)")
        }
    }

    private func outputPositions(_ names: [String], model: Model) throws(ServingError) -> [Int] {
        guard !names.isEmpty else { return Array(model.outputs.indices) }
        var positions: [Int] = []
        for name in names {
            guard let position = model.outputs.firstIndex(where: { $0.name == name }) else {
                let known = model.outputs.map(\.name).joined(separator: ", ")
                throw ServingError(.invalidArgument, "the model has no output '\(name)' (outputs: \(known))")
            }
            positions.append(position)
        }
        return positions
    }

    /// This worker's session for `servable`, made on first use. Sessions of versions that no longer serve are
    /// dropped here, so a retired version's memory is freed once its last request is done.
    private func session(for servable: Servable) -> Session {
        let key = ObjectIdentifier(servable)
        if let session = sessions[key] { return session }
        for (staleKey, owner) in sessionOwners where !registry.isServing(owner) {
            sessions[staleKey] = nil
            sessionOwners[staleKey] = nil
        }
        let session = servable.model.makeSession()
        sessions[key] = session
        sessionOwners[key] = servable
        return session
    }
}
