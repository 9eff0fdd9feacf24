import Foundation
import Testing
@testable import ZServe

/// The config file and flag layering of `zserve serve`, without a server: values, sources and errors that name the
/// key and the line.
struct ServeSettingsTests {
    private func settings(_ yaml: String, path: String = "/etc/zserve/zserve.yaml") throws(ConfigurationError) -> ServeSettings {
        var settings = ServeSettings()
        try ConfigFile.apply(text: yaml, path: path, to: &settings)
        return settings
    }

    @Test func fileValuesAreTypedAndRememberTheirLine() throws {
        let settings = try settings("""
            # comment
            model-repository: models
            workers: 3
            poll-interval: 0.5
            canary-seed: 18446744073709551615
            admin: ~
            batch-p99-target-us: null
            """)
        #expect(settings.modelRepository == "/etc/zserve/models", "relative to the file's directory")
        #expect(settings.workers == 3 && settings.pollInterval == 0.5 && settings.canarySeed == .max)
        #expect(settings.admin == nil && settings.batchP99TargetMicroseconds == nil)
        #expect(settings.source(of: "workers") == .file(path: "/etc/zserve/zserve.yaml", line: 3))
        #expect(settings.source(of: "listen") == .defaultValue)
        #expect(settings.listen == "tcp://127.0.0.1:7070")
    }

    @Test func flagsOverrideTheFile() throws {
        var settings = try settings("workers: 3\nmax-batch-size: 8\n")
        settings.override("workers", with: 1)
        settings.override("max-batch-size", with: Int?.none)
        #expect(settings.workers == 1 && settings.source(of: "workers") == .flag)
        #expect(settings.maxBatchSize == 8 && settings.source(of: "max-batch-size") == .file(path: "/etc/zserve/zserve.yaml", line: 2))
    }

    @Test(arguments: [
        ("workers: 1\nwrokers: 2\n", "/c.yaml:2: wrokers: unknown key"),
        ("workers: 1.5\n", "/c.yaml:1: workers: expected an integer, got '1.5'"),
        ("canary-seed: -1\n", "/c.yaml:1: canary-seed: expected a non-negative integer, got '-1'"),
        ("poll-interval: .nan\n", "/c.yaml:1: poll-interval: expected a number, got '.nan'"),
        ("listen: null\n", "/c.yaml:1: listen: expected a string, got null"),
        ("workers:\n  - 1\n", "/c.yaml:1: workers: expected a single value, got a list"),
        ("\n\nworkers: 1\nlisten: x\nworkers: 2\n", "/c.yaml:5: workers: set twice (first on line 3)"),
        ("- workers\n", "/c.yaml:1: config: expected a mapping of settings (key: value)"),
        ("workers: [1\n", "/c.yaml:2: config: not valid YAML"),
    ])
    func fileErrorsNameTheKeyAndLine(yaml: String, expected: String) {
        #expect {
            _ = try settings(yaml, path: "/c.yaml")
        } throws: { error in
            "\(error)".hasPrefix(expected)
        }
    }

    @Test func validationNamesWhereTheBadValueWasSet() throws {
        var settings = try settings("model-repository: /m\nblas-threads: 0\n", path: "/c.yaml")
        #expect(throws: ConfigurationError(.file(path: "/c.yaml", line: 2), "blas-threads", "must be at least 1")) {
            try settings.validate()
        }
        settings.override("blas-threads", with: 1)
        settings.override("autoscale", with: "4:2")
        #expect(throws: ConfigurationError(.flag, "autoscale", "takes MIN:MAX with 1 ≤ MIN ≤ MAX, got '4:2'")) {
            try settings.validate()
        }
        settings.override("autoscale", with: "1:2")
        #expect(try settings.serverConfiguration().autoscale == 1...2)
        #expect(throws: ConfigurationError(.defaultValue, "model-repository", "a model repository directory is required")) {
            try ServeSettings().validate()
        }
    }

    @Test func theRenderedSettingsReadBackToTheSameValues() throws {
        var original = ServeSettings()
        original.override("model-repository", with: "/srv/models \"quoted\"")
        original.override("autoscale", with: "1:4")
        original.override("max-push-size", with: UInt64(123))
        original.override("drain-timeout", with: 2.5)
        let reread = try settings(original.rendered(), path: "/printed.yaml")
        #expect(reread.rendered().replacingOccurrences(of: #"  # /printed\.yaml:\d+"#, with: "", options: .regularExpression)
            == original.rendered().replacingOccurrences(of: #"  # \w+"#, with: "", options: .regularExpression))
        #expect(reread.modelRepository == "/srv/models \"quoted\"" && reread.maxPushSize == 123 && reread.drainTimeout == 2.5)
    }
}
