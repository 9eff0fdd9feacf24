import CZeroMQ

/// A CurveZMQ key pair, as Z85 text (40 characters each).
public struct CurveKeyPair: Sendable, Equatable {
    public let publicKey: String
    public let secretKey: String

    /// Whether this libzmq was built with CURVE (Debian's is).
    public static var isAvailable: Bool { zmq_has("curve") == 1 }

    /// A new random key pair from libzmq (`zmq_curve_keypair`).
    ///
    /// - Throws: `ZMQError` (ENOTSUP) when libzmq has no CURVE.
    public static func generate() throws -> CurveKeyPair {
        var publicText = [CChar](repeating: 0, count: 41)
        var secretText = [CChar](repeating: 0, count: 41)
        guard zmq_curve_keypair(&publicText, &secretText) == 0 else { throw ZMQError.last }
        return CurveKeyPair(publicKey: String(z85: publicText), secretKey: String(z85: secretText))
    }

    /// The pair whose secret key is `secretKey` (the public key is derived with `zmq_curve_public`).
    ///
    /// - Throws: `CurveKeyError.malformed` unless `secretKey` is 40 characters of Z85.
    public init(secretKey: String) throws(CurveKeyError) {
        try Self.check(secretKey)
        var publicText = [CChar](repeating: 0, count: 41)
        guard zmq_curve_public(&publicText, secretKey) == 0 else { throw .malformed(secretKey.count) }
        self.init(publicKey: String(z85: publicText), secretKey: secretKey)
    }

    private init(publicKey: String, secretKey: String) {
        self.publicKey = publicKey
        self.secretKey = secretKey
    }

    /// Throws unless `key` is a Z85 CURVE key: 40 characters that decode to 32 bytes.
    public static func check(_ key: String) throws(CurveKeyError) {
        guard z85Decode(key) != nil else { throw .malformed(key.count) }
    }

    /// The 32 bytes a Z85 key stands for, or nil when it is not 40 characters of Z85.
    public static func z85Decode(_ key: String) -> [UInt8]? {
        guard key.utf8.count == 40 else { return nil }
        var bytes = [UInt8](repeating: 0, count: 32)
        guard zmq_z85_decode(&bytes, key) != nil else { return nil }
        return bytes
    }

    /// The Z85 text of 32 key bytes (as the ZAP handler receives a client's public key).
    public static func z85Encode(_ bytes: [UInt8]) -> String? {
        guard bytes.count == 32 else { return nil }
        var text = [CChar](repeating: 0, count: 41)
        guard zmq_z85_encode(&text, bytes, 32) != nil else { return nil }
        return String(z85: text)
    }
}

/// A key that is not a CurveZMQ key.
public enum CurveKeyError: Error, Equatable, CustomStringConvertible {
    case malformed(Int)

    public var description: String {
        switch self {
        case .malformed(let length): "not a CURVE key: expected 40 characters of Z85, got \(length) characters"
        }
    }
}

extension String {
    fileprivate init(z85 text: [CChar]) {
        self.init(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

extension Socket {
    /// Makes this socket a CURVE server with `secretKey` (before bind): clients must know its public key, and each
    /// connection is authenticated by the context's ZAP handler, if one is bound, under `domain`.
    public func makeCurveServer(secretKey: String, domain: String) throws {
        try setOption(ZMQ_CURVE_SERVER, Int32(1))
        try setOption(ZMQ_CURVE_SECRETKEY, Array(secretKey.utf8))
        try setOption(ZMQ_ZAP_DOMAIN, Array(domain.utf8))
    }

    /// Makes this socket a CURVE client (before connect) of the server whose public key is `serverPublicKey`,
    /// authenticating with `keys`.
    public func makeCurveClient(serverPublicKey: String, keys: CurveKeyPair) throws {
        try setOption(ZMQ_CURVE_SERVERKEY, Array(serverPublicKey.utf8))
        try setOption(ZMQ_CURVE_PUBLICKEY, Array(keys.publicKey.utf8))
        try setOption(ZMQ_CURVE_SECRETKEY, Array(keys.secretKey.utf8))
    }
}

/// What a CURVE client needs: the server's public key and its own key pair.
public struct CurveClientCredentials: Sendable, Equatable {
    public let serverPublicKey: String
    public let keys: CurveKeyPair

    public init(serverPublicKey: String, keys: CurveKeyPair) {
        self.serverPublicKey = serverPublicKey
        self.keys = keys
    }

    /// Reads the server's public key file and the client's secret key file (`zserve keygen` writes both kinds).
    ///
    /// - Throws: `CurveCertificate.FileError` naming the file that cannot be used.
    public init(serverPublicKeyFile: String, clientKeyFile: String) throws(CurveCertificate.FileError) {
        self.init(
            serverPublicKey: try CurveCertificate.readPublic(serverPublicKeyFile),
            keys: try CurveCertificate.readSecret(clientKeyFile))
    }

    /// Configures `socket` (before connect) to authenticate with these credentials.
    public func apply(to socket: Socket) throws {
        try socket.makeCurveClient(serverPublicKey: serverPublicKey, keys: keys)
    }
}
