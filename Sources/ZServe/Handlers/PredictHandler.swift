import Inference
import ProtobufWire
import ServingProtocol

/// Serves Predict on one worker thread: decode, select the version, validate inputs against the model, run, encode —
/// one request at a time, or several stacked into one run (dynamic batching).
///
/// Not thread-safe: each worker owns one, with its own sessions (activation buffers) per model version; the models
/// themselves are shared through the registry.
final class PredictHandler {
    /// A decoded request whose inputs passed every check, ready to run. A class: a batch passes it around several
    /// times, and a copy of a struct this size would retain every field.
    final class Prepared {
        /// One input: element type, shape and where its bytes lie in `payload`, or a string tensor's elements.
        typealias Input = (elementType: ElementType, shape: [Int], data: Range<Int>, strings: [String])

        let request: WirePredictRequest
        /// The encoded request; the inputs' bytes are ranges of it.
        let payload: ArraySlice<UInt8>
        let servable: Servable
        /// Per model input position.
        let inputs: [Input]
        let outputs: [Int]
        /// Rows when every input's first dimension is the same and of any size in the model (stackable), else nil.
        let rows: Int?

        init(
            request: WirePredictRequest, payload: ArraySlice<UInt8>, servable: Servable,
            inputs: [Input], outputs: [Int]
        ) {
            self.request = request
            self.payload = payload
            self.servable = servable
            self.inputs = inputs
            self.outputs = outputs
            self.rows = Self.stackableRows(inputs, servable.model)
        }

        private static func stackableRows(_ inputs: [Input], _ model: Model) -> Int? {
            guard let first = inputs.first?.shape.first else { return nil }
            let stackable = zip(model.inputs, inputs).allSatisfy { spec, input in
                input.shape.first == first && spec.shape?.first.map { $0 == nil } ?? false
            }
            return stackable ? first : nil
        }

        /// Whether `other` can run stacked with this one: same servable and outputs, inputs of the same types and
        /// trailing dimensions (both must have `rows`).
        func stacks(with other: Prepared) -> Bool {
            guard servable === other.servable, outputs == other.outputs, inputs.count == other.inputs.count else { return false }
            for (mine, theirs) in zip(inputs, other.inputs) {
                guard mine.elementType == theirs.elementType, mine.shape.count == theirs.shape.count,
                      mine.shape.dropFirst().elementsEqual(theirs.shape.dropFirst())
                else { return false }
            }
            return true
        }
    }

    let registry: ModelRegistry
    /// One session per servable this worker has run, keyed by servable identity.
    private var sessions: [ObjectIdentifier: Session] = [:]
    /// The servables those sessions belong to, kept to notice when one stops serving.
    private var sessionOwners: [ObjectIdentifier: Servable] = [:]

    private let metrics: MetricsRecorder?
    private let limits: RequestLimits

    /// - Parameters:
    ///   - metrics: where answered requests (by model, version, code) and compute times are recorded.
    ///   - limits: how large an input may be.
    init(registry: ModelRegistry, metrics: ServerMetrics? = nil, limits: RequestLimits = RequestLimits()) {
        self.registry = registry
        self.metrics = metrics.map(MetricsRecorder.init)
        self.limits = limits
    }

    /// A Predict payload read once: the worker routes by its model name, then serves it.
    struct Incoming {
        let payload: ArraySlice<UInt8>
        /// The payload read, or why it is not a PredictRequest (answered INVALID_ARGUMENT when served).
        let request: Result<WirePredictRequest, WireFormatError>
        /// When the broker received it (`MonotonicClock` nanoseconds), for its deadline.
        let receivedAt: UInt64

        init(payload: ArraySlice<UInt8>, receivedAt: UInt64) {
            self.payload = payload
            self.receivedAt = receivedAt
            request = Result { () throws(WireFormatError) in try WirePredictRequest(payload: payload) }
        }
    }

    /// Serves one Predict request on `servable` (the version the broker routed it to), or on the version its model
    /// spec selects when nil.
    func handle(_ incoming: Incoming, servable: Servable? = nil) -> Reply {
        switch prepare(incoming, routedTo: servable) {
        case .failure(let failure): answer(failure)
        case .success(let prepared): run([prepared])[0].ending(prepared, counting: metrics)
        }
    }

    /// Serves several requests; those for the same version whose inputs agree except in the first dimension run as
    /// one stacked batch and have their outputs split back. Replies are in `items` order.
    func handle(batch items: [(incoming: Incoming, servable: Servable?)]) -> [Reply] {
        var replies = [Reply?](repeating: nil, count: items.count)
        // Stacking groups by their first member; a linear scan, since a batch rarely holds more than one group.
        var groups: [[Int]] = []
        var prepared = [Prepared?](repeating: nil, count: items.count)
        for (index, item) in items.enumerated() {
            switch prepare(item.incoming, routedTo: item.servable) {
            case .failure(let failure):
                replies[index] = answer(failure)
            case .success(let request):
                prepared[index] = request
                if request.rows != nil,
                   let group = groups.firstIndex(where: { group in
                       let first = prepared[group[0]]!
                       return first.rows != nil && first.stacks(with: request)
                   }) {
                    groups[group].append(index)
                } else {
                    groups.append([index])
                }
            }
        }
        for group in groups {
            for (index, reply) in zip(group, run(group.map { prepared[$0]! })) { replies[index] = reply.ending(prepared[index]!, counting: metrics) }
        }
        return replies.map { $0! }
    }

    /// Whether a request received at `receivedAt` with a relative timeout is past its deadline; a timeout too large
    /// to represent never expires.
    static func hasExpired(receivedAt: UInt64, timeoutMicroseconds: UInt64) -> Bool {
        let (timeout, overflow) = timeoutMicroseconds.multipliedReportingOverflow(by: 1000)
        let (deadline, late) = receivedAt.addingReportingOverflow(timeout)
        return !overflow && !late && MonotonicClock.nanoseconds >= deadline
    }

    struct Failure: Error {
        let error: ServingError
        let requestID: String
        /// The model the request names, "" when the payload did not decode.
        let model: String
    }

    /// The reply for a request refused before it ran, counted under its model.
    private func answer(_ failure: Failure) -> Reply {
        metrics?.countRequest(model: failure.model, version: 0, code: failure.error.code.rawValue)
        return .error(failure.error, requestID: failure.requestID)
    }

    /// Decodes and checks one request: deadline, version, every input against the model.
    ///
    /// - Parameter routedTo: the version the broker chose for it; nil: resolve the request's model spec here.
    private func prepare(_ incoming: Incoming, routedTo: Servable?) -> Result<Prepared, Failure> {
        var requestID = ""
        var model = ""
        do throws(ServingError) {
            let request: WirePredictRequest
            switch incoming.request {
            case .success(let read): request = read
            case .failure(let error):
                throw ServingError(.invalidArgument, "payload is not a valid \(Zserve_V1_PredictRequest.protoMessageName): \(error)")
            }
            requestID = request.id
            model = request.model
            if request.timeoutMicroseconds > 0,
               Self.hasExpired(receivedAt: incoming.receivedAt, timeoutMicroseconds: request.timeoutMicroseconds) {
                throw ServingError(.deadlineExceeded, "deadline of \(request.timeoutMicroseconds) µs passed before the request ran")
            }
            let servable = if let routedTo, routedTo.name == request.model {
                routedTo
            } else {
                try registry.resolve(Zserve_V1_ModelSpec.with {
                    $0.name = request.model
                    $0.version = request.version
                    $0.label = request.label
                }, requestID: request.id)
            }
            let model = servable.model
            var inputs = [Prepared.Input?](repeating: nil, count: model.inputs.count)
            for tensor in request.inputs {
                guard let position = model.inputs.firstIndex(where: { $0.name == tensor.name }) else {
                    let names = model.inputs.map(\.name).joined(separator: ", ")
                    throw ServingError(.invalidArgument, "model '\(servable.name)' has no input '\(tensor.name)' (inputs: \(names))")
                }
                guard inputs[position] == nil else {
                    throw ServingError(.invalidArgument, "input '\(tensor.name)' is given more than once")
                }
                let (elementType, shape) = try TensorCodec.header(of: tensor)
                try TensorCodec.checkFields(of: tensor)
                do {
                    if elementType == .string {
                        try model.inputs[position].validate(elementType: elementType, shape: shape, stringCount: tensor.strings.count)
                    } else {
                        try model.inputs[position].validate(elementType: elementType, shape: shape, byteCount: tensor.data.count)
                    }
                } catch {
                    throw Self.servingError(error)
                }
                try limits.check(input: tensor.name, shape: shape)
                let strings = try TensorCodec.strings(of: tensor, in: incoming.payload)
                inputs[position] = (elementType, shape, tensor.data, strings)
            }
            if let missing = inputs.firstIndex(where: { $0 == nil }) {
                throw ServingError(.invalidArgument, "input '\(model.inputs[missing].name)' is missing")
            }
            let prepared = Prepared(
                request: request, payload: incoming.payload, servable: servable, inputs: inputs.map { $0! },
                outputs: try outputPositions(request.outputNames, model: model))
            // Ended by `Reply.ending(_:)` once the request's reply is built.
            servable.beginRequest()
            return .success(prepared)
        } catch {
            return .failure(Failure(error: error, requestID: requestID, model: model))
        }
    }

    /// Runs requests of one stacking group (or a single request) and builds their replies.
    private func run(_ group: [Prepared]) -> [Reply] {
        if group.count > 1 {
            if let replies = try? runStacked(group) { return replies }
            // The model's outputs do not follow the stacked rows (or the stacked run failed): one at a time.
            return group.map { run([$0])[0] }
        }
        let prepared = group[0]
        do throws(ServingError) {
            let session = session(for: prepared.servable)
            for (position, input) in prepared.inputs.enumerated() {
                try setInput(session, position, input.elementType, input.shape, [(prepared.payload, input.data, input.strings)])
            }
            let results = try runSession(session, prepared.servable, requests: 1)
            let names = prepared.servable.model.outputs
            // `results` keeps the outputs' memory alive until the reply is encoded.
            return withExtendedLifetime(results) {
                [reply(prepared, outputs: prepared.outputs.map { position in
                    TensorCodec.output(results[position], name: names[position].name)
                })]
            }
        } catch {
            return [.error(error, requestID: prepared.request.id)]
        }
    }

    /// One run on the inputs of every request stacked along the first dimension; each output is split back by rows.
    ///
    /// - Throws: when a wanted output's first dimension is not the total of the rows (it cannot be split), or the
    ///   run failed; the caller then serves the requests one by one.
    private func runStacked(_ group: [Prepared]) throws -> [Reply] {
        let first = group[0]
        let model = first.servable.model
        let rows = group.map { $0.rows! }
        let total = rows.reduce(0, +)
        let session = session(for: first.servable)
        for (position, input) in first.inputs.enumerated() {
            let shape = [total] + input.shape.dropFirst()
            try setInput(
                session, position, input.elementType, shape,
                group.map { ($0.payload, $0.inputs[position].data, $0.inputs[position].strings) })
        }
        let results = try runSession(session, first.servable, requests: group.count)
        var perRequest = [[WirePredictResponse.Output]](repeating: [], count: group.count)
        for position in first.outputs {
            let output = results[position]
            guard output.shape.first == total else { throw ServingError(.internal, "output rows do not follow input rows") }
            let rowElements = total == 0 ? 0 : output.count / total
            var offset = 0
            for (index, count) in rows.enumerated() {
                // `results` keeps the output alive until the replies below are encoded.
                perRequest[index].append(TensorCodec.output(
                    output, name: model.outputs[position].name, elements: (offset * rowElements)..<((offset + count) * rowElements),
                    shape: [count] + output.shape.dropFirst()))
                offset += count
            }
        }
        return withExtendedLifetime(results) { zip(group, perRequest).map { reply($0, outputs: $1) } }
    }

    /// The OK reply with `outputs` encoded (their bytes are read now, so they only need to live for the call).
    private func reply(_ prepared: Prepared, outputs: [WirePredictResponse.Output]) -> Reply {
        let response = WirePredictResponse.encode(
            id: prepared.request.id, model: prepared.servable.name, version: prepared.servable.version, outputs: outputs)
        return Reply(status: .with { $0.code = .ok; $0.requestID = prepared.request.id }, response: response)
    }

    /// Copies `parts` (byte ranges of payloads, or strings, concatenated) into the session's input `position`.
    private func setInput(
        _ session: Session, _ position: Int, _ elementType: ElementType, _ shape: [Int],
        _ parts: [(payload: ArraySlice<UInt8>, range: Range<Int>, strings: [String])]
    ) throws(ServingError) {
        if elementType == .string {
            let strings = parts.count == 1 ? parts[0].strings : parts.flatMap(\.strings)
            do {
                try session.setInput(position, Tensor(strings: strings, shape: shape))
            } catch {
                throw Self.servingError(error)
            }
            return
        }
        let byteCount = parts.reduce(0) { $0 + $1.range.count }
        do {
            try session.setInput(position, elementType: elementType, shape: shape, byteCount: byteCount) { target in
                var offset = 0
                for part in parts {
                    part.payload.withUnsafeBytes { source in
                        guard !part.range.isEmpty else { return }
                        (target.baseAddress! + offset).copyMemory(from: source.baseAddress! + part.range.lowerBound, byteCount: part.range.count)
                    }
                    offset += part.range.count
                }
            }
        } catch {
            throw Self.servingError(error)
        }
    }

    /// Runs the session for `requests` requests; the time goes to the metrics and the servable's estimate.
    private func runSession(_ session: Session, _ servable: Servable, requests: Int) throws(ServingError) -> [Tensor] {
        let start = MonotonicClock.nanoseconds
        defer {
            let elapsed = MonotonicClock.nanoseconds - start
            metrics?.recordCompute(model: servable.name, version: servable.version, nanoseconds: elapsed)
            servable.recordCompute(nanoseconds: elapsed, requests: requests)
        }
        do {
            return try session.run()
        } catch {
            throw Self.servingError(error)
        }
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
        guard !names.isEmpty else { return model.outputPositions }
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

extension Reply {
    /// This reply, after marking the request's use of its version finished and counting it.
    fileprivate func ending(_ prepared: PredictHandler.Prepared, counting metrics: MetricsRecorder?) -> Reply {
        prepared.servable.endRequest()
        metrics?.countRequest(model: prepared.servable.name, version: prepared.servable.version, code: status.code.rawValue)
        return self
    }
}
