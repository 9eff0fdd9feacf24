import Foundation

/// CurveZMQ key files in CZMQ's certificate format (ZPL), which pyzmq's `zmq.auth.load_certificate` and CZMQ's
/// `zcert_load` also read:
///
/// ```
/// #   ZeroMQ CURVE secret certificate — keep private
/// metadata
/// curve
///     public-key = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7"
///     secret-key = "JTKVSB%%)wK0E.X)V>+}o?pNmC{O&4W4b!Ni{Lh6"
/// ```
/// A public certificate has no `secret-key` line. A file holding just a 40-character Z85 key on one line is read too.
public enum CurveCertificate {
    /// A key file that cannot be used.
    public struct FileError: Error, CustomStringConvertible {
        public let path: String
        public let reason: String
        public var description: String { "\(path): \(reason)" }
    }

    /// Writes `PREFIX.key` (both keys, mode 0600, created exclusively) and `PREFIX.pub` (public key only).
    ///
    /// - Throws: `FileError` when a file exists already or cannot be written.
    public static func write(_ keys: CurveKeyPair, prefix: String) throws(FileError) {
        let secret = """
            #   ZeroMQ CURVE secret certificate (zserve keygen) — keep it private
            metadata
            curve
                public-key = "\(keys.publicKey)"
                secret-key = "\(keys.secretKey)"

            """
        let publicOnly = """
            #   ZeroMQ CURVE public certificate (zserve keygen)
            metadata
            curve
                public-key = "\(keys.publicKey)"

            """
        try create(prefix + ".key", secret, mode: 0o600)
        try create(prefix + ".pub", publicOnly, mode: 0o644)
    }

    private static func create(_ path: String, _ text: String, mode: mode_t) throws(FileError) {
        let descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL, mode)
        guard descriptor >= 0 else { throw FileError(path: path, reason: String(cString: strerror(errno))) }
        defer { close(descriptor) }
        fchmod(descriptor, mode)  // the umask does not loosen or tighten what was asked
        let bytes = Array(text.utf8)
        guard bytes.withUnsafeBytes({ Glibc.write(descriptor, $0.baseAddress, $0.count) }) == bytes.count, fsync(descriptor) == 0
        else { throw FileError(path: path, reason: String(cString: strerror(errno))) }
    }

    /// The key pair in a secret key file.
    ///
    /// - Throws: `FileError` when the file cannot be read, has no valid secret key, its public key does not belong
    ///   to it, or others may read it (a secret key file must not be readable by group or others).
    public static func readSecret(_ path: String) throws(FileError) -> CurveKeyPair {
        let fields = try read(path)
        guard let secret = fields["secret-key"] ?? fields["bare"] else {
            throw FileError(path: path, reason: "no secret-key in the file (is it a .pub file?)")
        }
        var info = stat()
        if stat(path, &info) == 0, info.st_mode & 0o077 != 0 {
            throw FileError(path: path, reason: "a secret key file must not be readable by others (chmod 600)")
        }
        let keys: CurveKeyPair
        do {
            keys = try CurveKeyPair(secretKey: secret)
        } catch {
            throw FileError(path: path, reason: "secret-key: \(error)")
        }
        if let publicKey = fields["public-key"], publicKey != keys.publicKey {
            throw FileError(path: path, reason: "public-key does not belong to the secret-key")
        }
        return keys
    }

    /// The Z85 public key in a public (or secret) key file.
    public static func readPublic(_ path: String) throws(FileError) -> String {
        let fields = try read(path)
        if let key = fields["public-key"] ?? fields["bare"] {
            guard CurveKeyPair.z85Decode(key) != nil else {
                throw FileError(path: path, reason: "public-key: \(CurveKeyError.malformed(key.count))")
            }
            return key
        }
        if let secret = fields["secret-key"], let keys = try? CurveKeyPair(secretKey: secret) { return keys.publicKey }
        throw FileError(path: path, reason: "no public-key in the file")
    }

    /// `public-key` and `secret-key` from a certificate, or the key of a one-line file as `bare`.
    private static func read(_ path: String) throws(FileError) -> [String: String] {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw FileError(path: path, reason: "cannot read: \(error.localizedDescription)")
        }
        let lines = text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty && !$0.hasPrefix("#") }
        if lines.count == 1, CurveKeyPair.z85Decode(lines[0]) != nil { return ["bare": lines[0]] }
        var fields: [String: String] = [:]
        for line in lines {
            guard let equals = line.firstIndex(of: "=") else { continue }
            let name = line[..<equals].trimmingCharacters(in: .whitespaces)
            var value = line[line.index(after: equals)...].trimmingCharacters(in: .whitespaces)
            if value.count >= 2, value.hasPrefix("\""), value.hasSuffix("\"") { value = String(value.dropFirst().dropLast()) }
            if name == "public-key" || name == "secret-key" { fields[name] = value }
        }
        return fields
    }
}
