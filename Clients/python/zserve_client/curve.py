"""CurveZMQ credentials from the key files `zserve keygen` writes (ZeroMQ certificates, read by zmq.auth)."""

import dataclasses

import zmq
import zmq.auth


@dataclasses.dataclass(frozen=True)
class CurveKeys:
    """The server's public key and this client's key pair (Z85 bytes), for endpoints that require CURVE.

    Pass one as `curve=` to any client. A server that refuses the key (or wants CURVE from a client without keys)
    sends no reply: a call that no server took within its timeout then raises ZServeError UNAUTHENTICATED, in every
    client (failover.py); the server logs the refused public key.
    """

    server_public_key: bytes
    public_key: bytes
    secret_key: bytes

    @classmethod
    def from_files(cls, server_public_key: str, client_key: str) -> "CurveKeys":
        """Reads the server's .pub file and this client's .key file (`zserve keygen --out PREFIX`)."""
        server_public, _ = zmq.auth.load_certificate(server_public_key)
        public, secret = zmq.auth.load_certificate(client_key)
        if secret is None:
            raise ValueError(f"{client_key}: no secret-key in the file (is it a .pub file?)")
        return cls(server_public, public, secret)

    def apply(self, socket: zmq.Socket) -> None:
        """Makes `socket` (not yet connected) a CURVE client with these keys."""
        socket.curve_serverkey = self.server_public_key
        socket.curve_publickey = self.public_key
        socket.curve_secretkey = self.secret_key
