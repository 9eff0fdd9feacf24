import Crypto
import Foundation
import ServingProtocol

extension Client {
    /// Pushes a model file as a new version, in chunks of `chunkSize` bytes, and waits until it is live.
    ///
    /// - Parameters:
    ///   - version: 0 lets the server pick one more than its highest version.
    ///   - progress: called after each chunk with (bytes sent, total bytes).
    /// - Returns: the server's answer to the final chunk (version assigned, state).
    /// - Throws: `Failure` with the server's status (DATA_LOSS, INVALID_ARGUMENT, ALREADY_EXISTS, ...).
    public func pushModel(
        name: String, model data: Data, version: Int64 = 0, labels: [String] = [], metadata: [String: String] = [:],
        chunkSize: Int = 4 << 20, progress: (UInt64, UInt64) -> Void = { _, _ in }
    ) throws -> Zserve_V1_PushModelResponse {
        precondition(chunkSize > 0, "chunk size must be positive")
        let total = UInt64(data.count)
        var request = Zserve_V1_PushModelRequest.with {
            $0.model = name
            $0.version = version
            $0.sha256 = Data(SHA256.hash(data: data))
            $0.totalSize = total
            $0.labels = labels
            $0.metadata = metadata
        }
        var offset = 0
        while true {
            let end = min(offset + chunkSize, data.count)
            request.offset = UInt64(offset)
            request.data = data.subdata(in: offset..<end)
            request.commit = end == data.count
            let response: Zserve_V1_PushModelResponse = try call(.pushModel, request)
            progress(UInt64(end), total)
            if request.commit { return response }
            request = .with { $0.uploadID = response.uploadID }
            offset = end
        }
    }

    /// Points `label` at `version` of `model` (0 removes the label), with a share of unpinned traffic.
    public func setLabel(model: String, label: String, version: Int64, weight: UInt32 = 0) throws -> Zserve_V1_ModelInfo {
        let response: Zserve_V1_SetLabelResponse = try call(.setLabel, Zserve_V1_SetLabelRequest.with {
            $0.model = model
            $0.label = label
            $0.version = version
            $0.weight = weight
        })
        return response.model
    }

    /// Makes the previous available version of `model` the default again.
    public func rollback(model: String) throws -> Zserve_V1_RollbackResponse {
        try call(.rollback, Zserve_V1_RollbackRequest.with { $0.model = model })
    }

    /// Loads a version that is on disk.
    public func loadModel(model: String, version: Int64) throws -> Zserve_V1_ModelInfo {
        let response: Zserve_V1_LoadModelResponse = try call(.loadModel, Zserve_V1_LoadModelRequest.with {
            $0.model = model
            $0.version = version
        })
        return response.model
    }

    /// Stops serving a version (it stays on disk).
    public func unloadModel(model: String, version: Int64) throws -> Zserve_V1_ModelInfo {
        let response: Zserve_V1_UnloadModelResponse = try call(.unloadModel, Zserve_V1_UnloadModelRequest.with {
            $0.model = model
            $0.version = version
        })
        return response.model
    }

    /// One model's versions, default and labels.
    public func modelStatus(model: String) throws -> Zserve_V1_ModelInfo {
        let response: Zserve_V1_ModelStatusResponse = try call(.modelStatus, Zserve_V1_ModelStatusRequest.with {
            $0.model = model
        })
        return response.model
    }
}

extension Client {
    /// Sets the number of local inference workers; returns the count before and after.
    public func scaleWorkers(to workers: Int32) throws -> Zserve_V1_ScaleWorkersResponse {
        try call(.scaleWorkers, Zserve_V1_ScaleWorkersRequest.with { $0.workers = workers })
    }
}
