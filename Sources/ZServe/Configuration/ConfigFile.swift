import Foundation
import Yams

/// Reads a `zserve serve` config file: a YAML mapping of setting keys (the flag names without dashes) to values.
///
/// ```yaml
/// model-repository: models        # relative paths are relative to this file's directory
/// listen: tcp://0.0.0.0:7070
/// workers: 2
/// metrics-listen: 0.0.0.0:9464
/// ```
/// An unknown or repeated key, a nested value or a value of the wrong type is an error naming the key and its line.
public enum ConfigFile {
    /// Applies the file at `path` onto `settings`.
    ///
    /// - Throws: `ConfigurationError` (key, file and line) for a bad key or value, or for a file that cannot be read
    ///   or is not YAML (then with the line the parser stopped at).
    public static func apply(_ path: String, to settings: inout ServeSettings) throws(ConfigurationError) {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw ConfigurationError(.file(path: path, line: 0), "config", "cannot read the file: \(error.localizedDescription)")
        }
        try apply(text: text, path: path, to: &settings)
    }

    /// Applies config text, naming `path` in errors and resolving relative paths against its directory.
    static func apply(text: String, path: String, to settings: inout ServeSettings) throws(ConfigurationError) {
        let root: Node?
        do {
            root = try Yams.compose(yaml: text)
        } catch YamlError.duplicatedKeysInMapping(let duplicates, _) {
            throw Self.repeated(duplicates.sorted().first ?? "", in: text, path: path)
        } catch let error as YamlError {
            throw ConfigurationError(.file(path: path, line: Self.line(of: error)), "config", "not valid YAML: \(Self.summary(of: error))")
        } catch {
            throw ConfigurationError(.file(path: path, line: 0), "config", "not valid YAML: \(error)")
        }
        guard let root else { return }  // an empty file sets nothing
        guard case .mapping(let mapping) = root else {
            throw ConfigurationError(.file(path: path, line: root.mark?.line ?? 1), "config", "expected a mapping of settings (key: value)")
        }
        for (keyNode, valueNode) in mapping {
            let line = keyNode.mark?.line ?? 0
            let source = ServeSettings.Source.file(path: path, line: line)
            guard case .scalar(let keyScalar) = keyNode else {
                throw ConfigurationError(source, "config", "keys must be plain names")
            }
            let key = keyScalar.string
            guard case .scalar(let value) = valueNode else {
                throw ConfigurationError(source, key, "expected a single value, got a \(Self.kind(of: valueNode))")
            }
            let isNull = value.style == .plain && ["", "~", "null", "Null", "NULL"].contains(value.string)
            var text = isNull ? nil : value.string
            if ServeSettings.pathKeys.contains(key), let relative = text, !relative.hasPrefix("/") {
                text = URL(fileURLWithPath: path).deletingLastPathComponent().appendingPathComponent(relative).path
            }
            try settings.set(key, text: text, from: source)
        }
    }

    /// The error for a key the parser found twice, naming the lines: those that start with the key (settings are
    /// top-level, and nested values are refused anyway).
    private static func repeated(_ key: String, in text: String, path: String) -> ConfigurationError {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).enumerated().filter { _, line in
            line.hasPrefix(key) && line.dropFirst(key.count).drop(while: { $0 == " " }).hasPrefix(":")
        }.map { $0.offset + 1 }
        let first = lines.first ?? 0
        return ConfigurationError(.file(path: path, line: lines.dropFirst().first ?? first), key, "set twice (first on line \(first))")
    }

    private static func kind(of node: Node) -> String {
        switch node {
        case .mapping: "mapping"
        case .sequence: "list"
        default: "alias"
        }
    }

    private static func line(of error: YamlError) -> Int {
        switch error {
        case .scanner(_, _, let mark, _), .parser(_, _, let mark, _), .composer(_, _, let mark, _): mark.line
        default: 0
        }
    }

    private static func summary(of error: YamlError) -> String {
        switch error {
        case .scanner(let context, let problem, _, _), .parser(let context, let problem, _, _),
            .composer(let context, let problem, _, _):
            [context?.text, problem].compactMap { $0 }.filter { !$0.isEmpty }.joined(separator: ": ")
        default: "\(error)"
        }
    }
}
