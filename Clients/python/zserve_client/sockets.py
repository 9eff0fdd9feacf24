"""Opening sockets, and the tag frame by which the DEALER clients match each reply to its call.

A DEALER client sends [tag][empty][method][request]. The server carries the frames before the delimiter back
unchanged (docs/protocol.md, "routing frames"), so the reply is [tag][empty][Status][response] whatever the method
and even when the server could not read a request id. Tags are 8-byte counters, unique per client (across its
sockets, so a call resent to another server keeps its tag).
"""

import itertools

import zmq

from .calls import Call
from .curve import CurveKeys


def open_socket(context: zmq.Context, socket_type: int, curve: CurveKeys | None = None) -> zmq.Socket:
    """Opens a socket that does not linger on close, a CURVE client with `curve`; not connected yet."""
    socket = context.socket(socket_type)
    socket.setsockopt(zmq.LINGER, 0)
    if curve is not None:
        curve.apply(socket)
    return socket


class SocketClient:
    """A blocking client owning sockets: close() closes them, and so does leaving a `with` block."""

    def close(self) -> None:
        """Closes the client's sockets, dropping unsent requests and unread replies."""
        raise NotImplementedError

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()


class Tags:
    """Hands out the tags of one client's calls (not thread-safe; a client is used by one thread or loop)."""

    def __init__(self):
        self._counter = itertools.count(1)

    def next(self) -> bytes:
        """A tag no earlier call of this socket had."""
        return next(self._counter).to_bytes(8, "big")


def tagged_request(tag: bytes, call: Call) -> list[bytes]:
    """The frames a DEALER sends for `call`: [tag][empty][method][request]."""
    return [tag, b"", *call.frames()]


def split_tagged_reply(frames: list[bytes]) -> tuple[bytes, list[bytes]] | None:
    """(tag, [Status][response]) of a reply to a tagged request; None when the reply carries no tag."""
    if len(frames) < 2 or not frames[0] or frames[1] != b"":
        return None
    return frames[0], frames[2:]
