/// The RPC methods ZServe serves, named by their gRPC paths.
public enum Method: String, CaseIterable, Sendable {
    case predict = "zserve.v1.Inference/Predict"
    case modelMetadata = "zserve.v1.Inference/ModelMetadata"
    case serverReady = "zserve.v1.Inference/ServerReady"
    case modelReady = "zserve.v1.Inference/ModelReady"
    case listModels = "zserve.v1.ModelControl/ListModels"
    case modelStatus = "zserve.v1.ModelControl/ModelStatus"
    case pushModel = "zserve.v1.ModelControl/PushModel"
    case loadModel = "zserve.v1.ModelControl/LoadModel"
    case unloadModel = "zserve.v1.ModelControl/UnloadModel"
    case setLabel = "zserve.v1.ModelControl/SetLabel"
    case rollback = "zserve.v1.ModelControl/Rollback"
    case scaleWorkers = "zserve.v1.ModelControl/ScaleWorkers"

    /// The services the methods belong to.
    public static let services: Set<String> = Set(allCases.map(\.service))

    /// Looks up the method named by a method frame; a leading "/" (gRPC's form) is accepted.
    public init?(path: String) {
        let trimmed = path.hasPrefix("/") ? String(path.dropFirst()) : path
        self.init(rawValue: trimmed)
    }

    /// Looks up the method named by a method frame's bytes.
    public init?(frame: [UInt8]) {
        self.init(frame: frame[...])
    }

    /// Looks up the method named by a method frame's bytes, viewed where they lie.
    public init?(frame: ArraySlice<UInt8>) {
        // Compared as bytes first (what clients send), without building a string per request.
        var candidate = 0
        while candidate < Self.table.count {
            let bytes = Self.table[candidate].frame
            var offset = 0
            while offset < bytes.count, offset < frame.count, bytes[offset] == frame[frame.startIndex + offset] { offset += 1 }
            if offset == bytes.count, offset == frame.count {
                self = Self.table[candidate].method
                return
            }
            candidate += 1
        }
        self.init(path: String(decoding: frame, as: UTF8.self))
    }

    /// Every method with its frame, built once, in declaration order (Predict, the most frequent, first).
    private static let table: [(method: Method, frame: [UInt8])] = allCases.map { ($0, Array($0.rawValue.utf8)) }


    /// The service part of the path, e.g. "zserve.v1.Inference".
    public var service: String { String(rawValue.split(separator: "/")[0]) }

    /// Whether the method changes what the server serves: only answered on the admin endpoint.
    public var changesServingState: Bool {
        switch self {
        case .pushModel, .loadModel, .unloadModel, .setLabel, .rollback, .scaleWorkers: true
        case .predict, .modelMetadata, .serverReady, .modelReady, .listModels, .modelStatus: false
        }
    }

    /// The method frame's bytes.
    public var frame: [UInt8] { Self.table.first { $0.method == self }!.frame }
}
