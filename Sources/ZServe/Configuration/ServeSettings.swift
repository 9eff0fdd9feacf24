import Foundation
import Logging
import ZeroMQ

/// Every `zserve serve` setting with its default, set from a config file (`--config`) and then from flags, each
/// remembering where its value came from so an error names the flag or the file's line.
///
/// Keys are the flag names without the dashes (`workers`, `max-batch-size`); `fields` lists them in the order
/// `--print-config` prints them. A value type: build one, apply the file, apply the flags, `validate()`.
public struct ServeSettings: Sendable {
    /// Where a setting's value came from.
    public enum Source: Sendable, Equatable, CustomStringConvertible {
        case defaultValue
        case file(path: String, line: Int)
        case flag

        public var description: String {
            switch self {
            case .defaultValue: "default"
            case .file(let path, let line): "\(path):\(line)"
            case .flag: "flag"
            }
        }
    }

    public var modelRepository: String?
    public var listen = "tcp://127.0.0.1:7070"
    public var admin: String?
    public var workerEndpoint: String?
    public var metricsListen: String?
    public var workers = ProcessInfo.processInfo.activeProcessorCount
    public var blasThreads = 1
    public var maxMessageSize = 64 << 20
    public var queueCapacity = 4096
    public var queueBytes = 1 << 30
    public var maxBatchSize = 1
    public var maxQueueDelayMicroseconds = 0
    public var inlineComputeMicroseconds = 50
    public var batchP99TargetMicroseconds: Int?
    public var autoscale: String?
    public var pollInterval = 2.0
    public var canarySeed: UInt64 = 0
    public var maxPushSize: UInt64 = 4 << 30
    public var drainTimeout = 10.0
    public var maxTensorElements = RequestLimits().maxTensorElements
    public var maxBatchRows = RequestLimits().maxBatchRows
    public var maxModels = 1000
    public var maxGraphNodes = ModelFileLimits().maxNodes
    public var maxInitializerBytes = ModelFileLimits().maxInitializerBytes
    public var maxUploads = 4
    public var logLevel = "info"
    public var logFormat = "text"
    public var serverKey: String?
    public var adminKeys: String?
    public var frontendKeys: String?
    public var workerKeys: String?
    public var insecureAdmin = false
    /// The source of every key set from the file or a flag; the others hold their defaults.
    public private(set) var sources: [String: Source] = [:]

    public init() {}

    /// Where `key`'s value came from.
    public func source(of key: String) -> Source { sources[key] ?? .defaultValue }

    // MARK: Fields

    /// The typed property a key sets.
    enum Kind {
        case string(WritableKeyPath<ServeSettings, String>)
        case optionalString(WritableKeyPath<ServeSettings, String?>)
        case int(WritableKeyPath<ServeSettings, Int>)
        case optionalInt(WritableKeyPath<ServeSettings, Int?>)
        case unsigned(WritableKeyPath<ServeSettings, UInt64>)
        case double(WritableKeyPath<ServeSettings, Double>)
        case bool(WritableKeyPath<ServeSettings, Bool>)
    }

    /// Keys whose values are paths: relative ones in a config file are relative to the file's directory.
    static let pathKeys: Set<String> = ["model-repository", "server-key", "admin-keys", "frontend-keys", "worker-keys"]

    struct Field {
        let key: String
        let kind: Kind
    }

    nonisolated(unsafe) static let fields: [Field] = [
        Field(key: "model-repository", kind: .optionalString(\.modelRepository)),
        Field(key: "listen", kind: .string(\.listen)),
        Field(key: "admin", kind: .optionalString(\.admin)),
        Field(key: "worker-endpoint", kind: .optionalString(\.workerEndpoint)),
        Field(key: "metrics-listen", kind: .optionalString(\.metricsListen)),
        Field(key: "workers", kind: .int(\.workers)),
        Field(key: "blas-threads", kind: .int(\.blasThreads)),
        Field(key: "max-message-size", kind: .int(\.maxMessageSize)),
        Field(key: "queue-capacity", kind: .int(\.queueCapacity)),
        Field(key: "queue-bytes", kind: .int(\.queueBytes)),
        Field(key: "max-batch-size", kind: .int(\.maxBatchSize)),
        Field(key: "max-queue-delay-us", kind: .int(\.maxQueueDelayMicroseconds)),
        Field(key: "inline-compute-us", kind: .int(\.inlineComputeMicroseconds)),
        Field(key: "batch-p99-target-us", kind: .optionalInt(\.batchP99TargetMicroseconds)),
        Field(key: "autoscale", kind: .optionalString(\.autoscale)),
        Field(key: "poll-interval", kind: .double(\.pollInterval)),
        Field(key: "canary-seed", kind: .unsigned(\.canarySeed)),
        Field(key: "max-push-size", kind: .unsigned(\.maxPushSize)),
        Field(key: "drain-timeout", kind: .double(\.drainTimeout)),
        Field(key: "max-tensor-elements", kind: .int(\.maxTensorElements)),
        Field(key: "max-batch-rows", kind: .int(\.maxBatchRows)),
        Field(key: "max-models", kind: .int(\.maxModels)),
        Field(key: "max-graph-nodes", kind: .int(\.maxGraphNodes)),
        Field(key: "max-initializer-bytes", kind: .unsigned(\.maxInitializerBytes)),
        Field(key: "max-uploads", kind: .int(\.maxUploads)),
        Field(key: "log-level", kind: .string(\.logLevel)),
        Field(key: "log-format", kind: .string(\.logFormat)),
        Field(key: "server-key", kind: .optionalString(\.serverKey)),
        Field(key: "admin-keys", kind: .optionalString(\.adminKeys)),
        Field(key: "frontend-keys", kind: .optionalString(\.frontendKeys)),
        Field(key: "worker-keys", kind: .optionalString(\.workerKeys)),
        Field(key: "insecure-admin", kind: .bool(\.insecureAdmin)),
    ]

    static func field(_ key: String) -> Field? { fields.first { $0.key == key } }

    /// Sets `key` from a flag, if the flag was given. The flag's type must be the key's (`String`, `Int`, `UInt64`,
    /// `Double`); anything else is a programming error and traps.
    public mutating func override<Value>(_ key: String, with value: Value?) {
        guard let value else { return }
        guard let field = Self.field(key) else { preconditionFailure("no setting '\(key)'") }
        func typed<T>(_: T.Type) -> T {
            guard let typed = value as? T else { preconditionFailure("flag --\(key) is not a \(T.self)") }
            return typed
        }
        switch field.kind {
        case .string(let path): self[keyPath: path] = typed(String.self)
        case .optionalString(let path): self[keyPath: path] = typed(String.self)
        case .int(let path): self[keyPath: path] = typed(Int.self)
        case .optionalInt(let path): self[keyPath: path] = typed(Int.self)
        case .unsigned(let path): self[keyPath: path] = typed(UInt64.self)
        case .double(let path): self[keyPath: path] = typed(Double.self)
        case .bool(let path): self[keyPath: path] = typed(Bool.self)
        }
        sources[key] = .flag
    }

    /// Sets `key` from the text of a config file's value (nil: YAML null, which only optional settings take).
    ///
    /// - Throws: `ConfigurationError` naming the key and `source` when the key is unknown or the text is not a
    ///   value of its type.
    mutating func set(_ key: String, text: String?, from source: Source) throws(ConfigurationError) {
        guard let field = Self.field(key) else {
            throw ConfigurationError(source, key, "unknown key (known: \(Self.fields.map(\.key).joined(separator: ", ")))")
        }
        func parsed<T>(_ parse: (String) -> T?, _ kind: String) throws(ConfigurationError) -> T {
            guard let text, let value = parse(text) else {
                throw ConfigurationError(source, key, "expected \(kind), got \(text.map { "'\($0)'" } ?? "null")")
            }
            return value
        }
        switch field.kind {
        case .string(let path): self[keyPath: path] = try parsed({ $0 }, "a string")
        case .optionalString(let path): self[keyPath: path] = text
        case .int(let path): self[keyPath: path] = try parsed({ Int($0) }, "an integer")
        case .optionalInt(let path): self[keyPath: path] = try text.map { _ throws(ConfigurationError) in try parsed({ Int($0) }, "an integer or null") }
        case .unsigned(let path): self[keyPath: path] = try parsed({ UInt64($0) }, "a non-negative integer")
        case .double(let path): self[keyPath: path] = try parsed({ Double($0).flatMap { $0.isFinite ? $0 : nil } }, "a number")
        case .bool(let path): self[keyPath: path] = try parsed({ ["true": true, "false": false][$0] }, "true or false")
        }
        sources[key] = source
    }

    // MARK: Validation

    /// Checks every value; the error names the offending key and where it was set.
    public func validate() throws(ConfigurationError) {
        func check(_ condition: Bool, _ key: String, _ message: String) throws(ConfigurationError) {
            if !condition { throw ConfigurationError(source(of: key), key, message) }
        }
        try check(modelRepository.map { !$0.isEmpty } ?? false, "model-repository", "a model repository directory is required")
        try check(workers >= 1 || (workers == 0 && workerEndpoint != nil), "workers", "must be at least 1 (0 only with worker-endpoint)")
        try check(blasThreads >= 1, "blas-threads", "must be at least 1")
        try check(maxMessageSize >= 1024, "max-message-size", "must be at least 1024")
        try check(queueCapacity >= 0, "queue-capacity", "must not be negative")
        try check(queueBytes >= 1, "queue-bytes", "must be positive")
        try check(maxBatchSize >= 1, "max-batch-size", "must be at least 1")
        try check(maxQueueDelayMicroseconds >= 0, "max-queue-delay-us", "must not be negative")
        try check(inlineComputeMicroseconds >= 0, "inline-compute-us", "must not be negative")
        try check(batchP99TargetMicroseconds.map { $0 > 0 } ?? true, "batch-p99-target-us", "must be positive")
        try check(pollInterval >= 0, "poll-interval", "must not be negative")
        try check(drainTimeout >= 0, "drain-timeout", "must not be negative")
        try check(maxPushSize >= 1, "max-push-size", "must be positive")
        for (key, value) in [("max-tensor-elements", maxTensorElements), ("max-batch-rows", maxBatchRows),
                             ("max-models", maxModels), ("max-graph-nodes", maxGraphNodes), ("max-uploads", maxUploads)] {
            try check(value >= 1, key, "must be at least 1")
        }
        try check(Logger.Level(rawValue: logLevel) != nil, "log-level", "must be one of \(Logger.Level.allCases.map(\.rawValue).joined(separator: ", "))")
        try check(LogFormat(rawValue: logFormat) != nil, "log-format", "must be text or json")
        for key in ["admin-keys", "frontend-keys", "worker-keys"] where value(of: key) != nil {
            try check(serverKey != nil, key, "needs server-key (the server's own key pair, from zserve keygen)")
        }
        try check(serverKey == nil || admin == nil || adminKeys != nil, "server-key",
                  "with an admin endpoint, admin-keys must name the directory of allowed client keys")
        _ = try autoscaleBounds()
    }

    /// `autoscale` as MIN:MAX bounds (nil when unset).
    func autoscaleBounds() throws(ConfigurationError) -> ClosedRange<Int>? {
        guard let autoscale else { return nil }
        let parts = autoscale.split(separator: ":", omittingEmptySubsequences: false).map { Int($0) }
        guard parts.count == 2, let low = parts[0], let high = parts[1], low >= 1, low <= high else {
            throw ConfigurationError(source(of: "autoscale"), "autoscale", "takes MIN:MAX with 1 ≤ MIN ≤ MAX, got '\(autoscale)'")
        }
        return low...high
    }

    /// The validated settings as a server configuration.
    public func serverConfiguration() throws(ConfigurationError) -> ServerConfiguration {
        try validate()
        var configuration = ServerConfiguration(
            repository: URL(fileURLWithPath: modelRepository ?? "."), listen: listen, admin: admin, workers: workers,
            blasThreads: blasThreads, maxMessageSize: Int64(maxMessageSize), queueCapacity: queueCapacity,
            queueByteLimit: queueBytes, drainTimeout: .milliseconds(Int((drainTimeout * 1000).rounded())),
            pollInterval: pollInterval > 0 ? .milliseconds(Int((pollInterval * 1000).rounded())) : nil,
            canarySeed: canarySeed, maxPushSize: maxPushSize)
        configuration.workerEndpoint = workerEndpoint
        configuration.metricsListen = metricsListen
        configuration.maxBatchSize = maxBatchSize
        configuration.maxQueueDelay = .microseconds(maxQueueDelayMicroseconds)
        configuration.inlineCompute = .microseconds(inlineComputeMicroseconds)
        configuration.batchP99Target = batchP99TargetMicroseconds.map { .microseconds($0) }
        configuration.autoscale = try autoscaleBounds()
        configuration.insecureAdmin = insecureAdmin
        configuration.requestLimits.maxTensorElements = maxTensorElements
        configuration.requestLimits.maxBatchRows = maxBatchRows
        configuration.modelFileLimits.maxFileBytes = maxPushSize
        configuration.modelFileLimits.maxNodes = maxGraphNodes
        configuration.modelFileLimits.maxInitializerBytes = maxInitializerBytes
        configuration.maxModels = maxModels
        configuration.maxUploads = maxUploads
        if let serverKey {
            let keys: CurveKeyPair
            do {
                keys = try CurveCertificate.readSecret(serverKey)
            } catch {
                throw ConfigurationError(source(of: "server-key"), "server-key", "\(error)")
            }
            for key in ["admin-keys", "frontend-keys", "worker-keys"] {
                guard let directory = value(of: key) else { continue }
                var isDirectory: ObjCBool = false
                guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
                    throw ConfigurationError(source(of: key), key, "\(directory) is not a directory")
                }
            }
            configuration.curve = ServerConfiguration.Curve(
                keys: keys, adminKeys: adminKeys.map(URL.init(fileURLWithPath:)),
                frontendKeys: frontendKeys.map(URL.init(fileURLWithPath:)), workerKeys: workerKeys.map(URL.init(fileURLWithPath:)))
        }
        return configuration
    }

    /// The value of an optional-string key (the key directories).
    private func value(of key: String) -> String? {
        guard case .optionalString(let path)? = Self.field(key)?.kind else { return nil }
        return self[keyPath: path]
    }

    // MARK: Printing

    /// The effective settings as a config file (YAML) that `--config` reads back, each line commented with where its
    /// value came from.
    public func rendered() -> String {
        let width = Self.fields.map(\.key.count).max() ?? 0
        return Self.fields.map { field in
            let value: String = switch field.kind {
            case .string(let path): Self.quoted(self[keyPath: path])
            case .optionalString(let path): self[keyPath: path].map(Self.quoted) ?? "null"
            case .int(let path): String(self[keyPath: path])
            case .optionalInt(let path): self[keyPath: path].map(String.init) ?? "null"
            case .unsigned(let path): String(self[keyPath: path])
            case .double(let path): String(self[keyPath: path])
            case .bool(let path): String(self[keyPath: path])
            }
            let key = field.key + ":"
            return "\(key.padding(toLength: width + 2, withPad: " ", startingAt: 0))\(value)  # \(source(of: field.key))"
        }.joined(separator: "\n") + "\n"
    }

    /// A YAML double-quoted scalar (JSON's string escapes are valid there).
    private static func quoted(_ text: String) -> String {
        let data = try? JSONSerialization.data(withJSONObject: text, options: [.fragmentsAllowed, .withoutEscapingSlashes])
        return data.flatMap { String(data: $0, encoding: .utf8) } ?? "\"\""
    }
}

/// A setting that cannot be used: the key, where it was set (file and line, or the flag) and why.
public struct ConfigurationError: Error, CustomStringConvertible, Equatable {
    public let source: ServeSettings.Source
    public let key: String
    public let reason: String

    init(_ source: ServeSettings.Source, _ key: String, _ reason: String) {
        self.source = source
        self.key = key
        self.reason = reason
    }

    public var description: String {
        switch source {
        case .file(let path, let line): "\(path):\(line): \(key): \(reason)"
        case .flag: "--\(key): \(reason)"
        case .defaultValue: "\(key): \(reason)"
        }
    }
}
