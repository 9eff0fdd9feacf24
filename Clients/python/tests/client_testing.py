"""Shared pieces of the Python client's suite: the example model, and a ROUTER that stands in for a server."""

import shutil
import threading
from pathlib import Path

import numpy as np
import zmq

import zserve_testing
from zserve_client import from_tensor
from zserve_client.protos import inference_pb2, status_pb2

MODEL = "purchase_propensity"
MODEL_FILE = zserve_testing.EXAMPLE_REPOSITORY / MODEL / "1" / "model.onnx"
# rtol/atol between the server's float32 probabilities and onnxruntime's (8 features, one small dense model).
RTOL, ATOL = 1e-5, 1e-6


def assert_close(actual, expected) -> None:
    """Asserts float32 outputs agree with onnxruntime's within the suite's tolerance."""
    np.testing.assert_allclose(actual, expected, rtol=RTOL, atol=ATOL)


def writable_repository(destination: Path) -> Path:
    """A copy of the example repository keeping every version (admin calls push versions and write serving.json)."""
    shutil.copytree(zserve_testing.EXAMPLE_REPOSITORY, destination)
    (destination / MODEL / "config.json").write_text('{"version_policy": {"all": true}}')
    return destination


class ServingThread:
    """A stand-in server's life: `_serve` runs on its own thread until `_stop` is set; as a context manager it is
    closed on the way out. Subclasses set up their sockets, then call `_start()`, and release them in `_release()`."""

    def _start(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self._release()

    def _serve(self) -> None:
        raise NotImplementedError

    def _release(self) -> None:
        raise NotImplementedError


class StandInServer(ServingThread):
    """A ROUTER on a loopback ephemeral port that stands in for the server where the client's side is under test.

    It collects Predict requests until `window` are unanswered or none came for 200 ms, then answers all of them
    in reverse order of arrival, each with a PredictResponse whose version is the request's first input value (so a
    test can tell which reply belongs to which request); with answer=False it never answers. `most_unanswered` is
    the largest number of requests it held unanswered at once.
    """

    def __init__(self, window: int, answer: bool = True):
        self.window = window
        self.answer = answer
        self.most_unanswered = 0
        self._context = zmq.Context()
        self._socket = self._context.socket(zmq.ROUTER)
        self.endpoint = f"tcp://127.0.0.1:{self._socket.bind_to_random_port('tcp://127.0.0.1')}"
        self._start()

    def _release(self) -> None:
        self._socket.close(linger=0)
        self._context.term()

    def _serve(self) -> None:
        unanswered = []
        while not self._stop.is_set():
            if self._socket.poll(200):
                unanswered.append(self._socket.recv_multipart())
                self.most_unanswered = max(self.most_unanswered, len(unanswered))
                if len(unanswered) < self.window:
                    continue
            if self.answer:
                for frames in reversed(unanswered):
                    self._socket.send_multipart(_reply(frames))
                unanswered = []


def _reply(frames: list) -> list:
    """An OK reply to a Predict request's frames [routing...][empty][method][request]."""
    delimiter = frames.index(b"", 1)
    request = inference_pb2.PredictRequest.FromString(frames[delimiter + 2])
    version = int(from_tensor(request.inputs[0]).flat[0])
    response = inference_pb2.PredictResponse(id=request.id, model=request.model.name, version=version)
    status = status_pb2.Status(code=status_pb2.OK, request_id=request.id)
    return frames[:delimiter + 1] + [status.SerializeToString(), response.SerializeToString()]
