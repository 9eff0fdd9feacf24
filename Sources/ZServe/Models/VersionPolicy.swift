import Foundation

/// Which versions of a model stay loaded (TF Serving's "latest N / all / specific").
public enum VersionPolicy: Sendable, Equatable {
    case latest(Int)
    case all
    case specific(Set<Int64>)

    /// The versions among `versions` the policy serves.
    public func select(_ versions: [Int64]) -> Set<Int64> {
        switch self {
        case .latest(let count): Set(versions.sorted().suffix(count))
        case .all: Set(versions)
        case .specific(let wanted): Set(versions).intersection(wanted)
        }
    }

    /// Parses the `version_policy` object of a model's config.json: `{"latest": N}`, `{"all": true}` or
    /// `{"specific": [..]}`.
    ///
    /// - Throws: `ModelStoreError.invalidConfiguration` describing what is wrong.
    init(configuration policy: Any) throws {
        guard let fields = policy as? [String: Any], fields.count == 1 else {
            throw ModelStoreError.invalidConfiguration("version_policy must have exactly one of latest, all, specific")
        }
        if let count = fields["latest"] as? Int, count >= 1 {
            self = .latest(count)
        } else if fields["all"] as? Bool == true {
            self = .all
        } else if let versions = fields["specific"] as? [Int], !versions.isEmpty, versions.allSatisfy({ $0 > 0 }) {
            self = .specific(Set(versions.map(Int64.init)))
        } else {
            throw ModelStoreError.invalidConfiguration("version_policy: latest takes N ≥ 1, all takes true, specific a list of versions")
        }
    }
}
