import ServingProtocol

/// The ModelControl methods that change state, on the wire: decodes each request, calls the model manager, encodes
/// its response or error status. The lifecycle logic itself lives in `ModelManager`.
///
/// Runs on the model manager thread (it calls the manager).
struct ModelControlHandler {
    let manager: ModelManager

    /// Serves one state-changing ModelControl request.
    func handle(_ method: Method, payload: ArraySlice<UInt8>) -> Reply {
        do throws(ServingError) {
            switch method {
            case .pushModel:
                let outcome = try manager.push(try decodeRequest(Zserve_V1_PushModelRequest.self, from: payload))
                return .ok(Zserve_V1_PushModelResponse.with {
                    $0.uploadID = outcome.uploadID
                    $0.received = outcome.received
                    if let (model, version) = outcome.published {
                        $0.model = model
                        $0.version = version
                        $0.state = .available
                    }
                })
            case .loadModel:
                let request = try decodeRequest(Zserve_V1_LoadModelRequest.self, from: payload)
                try manager.load(request.model, request.version)
                return .ok(Zserve_V1_LoadModelResponse.with { $0.model = info(request.model) })
            case .unloadModel:
                let request = try decodeRequest(Zserve_V1_UnloadModelRequest.self, from: payload)
                try manager.unload(request.model, request.version)
                return .ok(Zserve_V1_UnloadModelResponse.with { $0.model = info(request.model) })
            case .setLabel:
                let request = try decodeRequest(Zserve_V1_SetLabelRequest.self, from: payload)
                try manager.setLabel(request.model, label: request.label, version: request.version, weight: request.weight)
                return .ok(Zserve_V1_SetLabelResponse.with { $0.model = info(request.model) })
            case .rollback:
                let request = try decodeRequest(Zserve_V1_RollbackRequest.self, from: payload)
                let (from, to) = try manager.rollback(request.model)
                return .ok(Zserve_V1_RollbackResponse.with {
                    $0.model = info(request.model)
                    $0.fromVersion = from
                    $0.toVersion = to
                })
            case .predict, .modelMetadata, .serverReady, .modelReady, .listModels, .modelStatus, .scaleWorkers:
                return .error(ServingError(.internal, "\(method.rawValue) is not served by the model manager"))
            }
        } catch {
            return .error(error)
        }
    }

    private func info(_ name: String) -> Zserve_V1_ModelInfo {
        manager.registry.snapshot(of: name).map(ControlHandler.wire) ?? .with { $0.name = name }
    }
}
