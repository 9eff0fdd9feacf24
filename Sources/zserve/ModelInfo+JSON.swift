import ServingProtocol

extension Zserve_V1_ModelInfo {
    /// The JSON object `zserve models` and the admin commands print.
    var jsonObject: [String: Any] {
        [
            "name": name,
            "default_version": defaultVersion,
            "versions": versions.map { version -> [String: Any] in
                var entry: [String: Any] = ["version": version.version, "state": version.state.label]
                if !version.error.isEmpty { entry["error"] = version.error }
                return entry
            },
            "labels": labels.map { ["name": $0.name, "version": $0.version, "weight": $0.weight] as [String: Any] },
        ]
    }
}

extension Zserve_V1_VersionState {
    /// "AVAILABLE", "FAILED", ...
    var label: String {
        switch self {
        case .loading: "LOADING"
        case .available: "AVAILABLE"
        case .unloading: "UNLOADING"
        case .failed: "FAILED"
        case .end: "END"
        default: "UNKNOWN"
        }
    }
}
