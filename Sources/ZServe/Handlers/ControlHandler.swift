import ServingProtocol

/// Answers the cheap, read-only methods (metadata, readiness, model list) on the broker thread, so health checks
/// never queue behind inference.
struct ControlHandler {
    let registry: ModelRegistry

    /// Answers `method`; `workerCount` is the number of workers serving now (readiness, ListModels). The broker
    /// answers every request UNAVAILABLE once it drains, so a method answered here is answered by a serving server.
    func handle(_ method: Method, payload: ArraySlice<UInt8>, workerCount: Int) -> Reply {
        do throws(ServingError) {
            switch method {
            case .serverReady:
                _ = try decodeRequest(Zserve_V1_ServerReadyRequest.self, from: payload)
                return .ok(Zserve_V1_ServerReadyResponse.with { 
                    $0.ready = ServerHealth.unreadiness(serving: true, workers: workerCount, models: registry).isEmpty
                })
            case .modelReady:
                let request = try decodeRequest(Zserve_V1_ModelReadyRequest.self, from: payload)
                let ready: Bool
                do {
                    _ = try registry.resolve(request.model)
                    ready = true
                } catch where error.code == .notFound || error.code == .unavailable {
                    ready = false
                }
                return .ok(Zserve_V1_ModelReadyResponse.with { $0.ready = ready })
            case .modelMetadata:
                let request = try decodeRequest(Zserve_V1_ModelMetadataRequest.self, from: payload)
                return .ok(try metadata(request.model))
            case .listModels:
                _ = try decodeRequest(Zserve_V1_ListModelsRequest.self, from: payload)
                return .ok(listModels(workerCount: workerCount))
            case .modelStatus:
                let request = try decodeRequest(Zserve_V1_ModelStatusRequest.self, from: payload)
                try ModelManager.checkNamed(request.model)
                guard let snapshot = registry.snapshot(of: request.model) else {
                    throw ServingError(.notFound, "model '\(request.model)' not found")
                }
                return .ok(Zserve_V1_ModelStatusResponse.with { $0.model = Self.wire(snapshot) })
            case .predict, .pushModel, .loadModel, .unloadModel, .setLabel, .rollback, .scaleWorkers:
                return .error(ServingError(.internal, "\(method.rawValue) is not a control method"))
            }
        } catch {
            return .error(error)
        }
    }

    private func metadata(_ spec: Zserve_V1_ModelSpec) throws(ServingError) -> Zserve_V1_ModelMetadataResponse {
        let servable = try registry.resolve(spec)
        return .with {
            $0.name = servable.name
            $0.version = servable.version
            $0.availableVersions = registry.availableVersions(of: servable.name)
            $0.inputs = servable.model.inputs.map(TensorCodec.wire)
            $0.outputs = servable.model.outputs.map(TensorCodec.wire)
        }
    }

    private func listModels(workerCount: Int) -> Zserve_V1_ListModelsResponse {
        .with {
            $0.workers = Int32(workerCount)
            $0.models = registry.snapshots().map(Self.wire)
        }
    }

    /// The wire form of a model's snapshot.
    static func wire(_ snapshot: ModelSnapshot) -> Zserve_V1_ModelInfo {
        .with { model in
            model.name = snapshot.name
            model.defaultVersion = snapshot.defaultVersion ?? 0
            model.versions = snapshot.versions.map { status in
                .with {
                    $0.version = status.version
                    $0.state = wireState(status.state)
                    $0.error = status.error ?? ""
                }
            }
            model.labels = snapshot.labels.sorted { $0.key < $1.key }.map { name, target in
                .with {
                    $0.name = name
                    $0.version = target.version
                    $0.weight = target.weight
                }
            }
        }
    }

    private static func wireState(_ state: VersionState) -> Zserve_V1_VersionState {
        switch state {
        case .loading: .loading
        case .available: .available
        case .failed: .failed
        case .unloading: .unloading
        case .end: .end
        }
    }
}
