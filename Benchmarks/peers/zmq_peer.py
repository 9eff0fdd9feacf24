"""A pyzmq + onnxruntime server speaking ZServe's protocol (docs/protocol.md), written the way a user of those two
libraries would: one ROUTER, one onnxruntime session, Predict only (other methods get UNIMPLEMENTED).

    python zmq_peer.py MODEL_NAME MODEL.onnx [--drain 64]

Without --drain it runs one request per onnxruntime call. With --drain N, after each blocking receive it takes up to
N - 1 more requests that are already queued, stacks those whose inputs agree in every dimension but the first into
one run, and splits the outputs. Prints {"event": "ready", "listen": ENDPOINT} once bound; runs until killed.
"""

import argparse
import json
import sys

import numpy as np
import zmq

from tensors import session, to_array, to_tensor
from zserve.v1 import inference_pb2, status_pb2

PREDICT = b"zserve.v1.Inference/Predict"
OK, INVALID_ARGUMENT, NOT_FOUND, UNIMPLEMENTED = 0, 3, 5, 12


def status(code: int, request_id: str = "", message: str = "") -> bytes:
    return status_pb2.Status(code=code, request_id=request_id, message=message).SerializeToString()


class Peer:
    def __init__(self, name: str, model_path: str, drain: int):
        self.name = name
        self.session = session(model_path)
        self.input_names = [value.name for value in self.session.get_inputs()]
        self.output_names = [value.name for value in self.session.get_outputs()]
        self.drain = drain
        self.socket = zmq.Context.instance().socket(zmq.ROUTER)
        self.socket.setsockopt(zmq.SNDHWM, 0)
        self.socket.setsockopt(zmq.RCVHWM, 0)
        port = self.socket.bind_to_random_port("tcp://127.0.0.1")
        self.endpoint = f"tcp://127.0.0.1:{port}"

    def serve(self) -> None:
        while True:
            pending = [self.socket.recv_multipart()]
            while len(pending) < self.drain:
                try:
                    pending.append(self.socket.recv_multipart(zmq.NOBLOCK))
                except zmq.Again:
                    break
            requests = []
            for frames in pending:
                parsed = self.parse(frames)
                if parsed is not None:
                    requests.append(parsed)
            if requests:
                self.run(requests)

    def parse(self, frames):
        """(envelope, request, feeds) for a Predict; answers anything else itself and returns None."""
        try:
            delimiter = frames.index(b"", 1)
        except ValueError:
            return None
        envelope = frames[: delimiter + 1]
        if len(frames) != delimiter + 3 or frames[delimiter + 1].lstrip(b"/") != PREDICT:
            self.socket.send_multipart(envelope + [status(UNIMPLEMENTED, message="only Predict"), b""])
            return None
        try:
            request = inference_pb2.PredictRequest.FromString(frames[delimiter + 2])
            if request.model.name != self.name:
                self.socket.send_multipart(envelope + [status(NOT_FOUND, request.id, "unknown model"), b""])
                return None
            feeds = {tensor.name: to_array(tensor) for tensor in request.inputs}
            if sorted(feeds) != sorted(self.input_names):
                raise ValueError(f"inputs {sorted(feeds)}, expected {sorted(self.input_names)}")
        except Exception as error:  # a bad request gets an answer, the server keeps serving
            self.socket.send_multipart(envelope + [status(INVALID_ARGUMENT, message=str(error)), b""])
            return None
        return envelope, request, feeds

    def run(self, requests) -> None:
        # Requests whose inputs agree in every dimension but the first run together.
        groups: dict[tuple, list] = {}
        for item in requests:
            key = tuple((name, item[2][name].dtype.str, item[2][name].shape[1:]) for name in self.input_names)
            groups.setdefault(key, []).append(item)
        for group in groups.values():
            if len(group) == 1:
                feeds = group[0][2]
            else:
                feeds = {name: np.concatenate([item[2][name] for item in group]) for name in self.input_names}
            outputs = self.session.run(None, feeds)
            start = 0
            for envelope, request, item_feeds in group:
                rows = item_feeds[self.input_names[0]].shape[0]
                response = inference_pb2.PredictResponse(
                    id=request.id, model=self.name, version=1,
                    outputs=[to_tensor(name, output[start:start + rows] if len(group) > 1 else output)
                             for name, output in zip(self.output_names, outputs)])
                start += rows
                self.socket.send_multipart(envelope + [status(OK, request.id), response.SerializeToString()])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("name")
    parser.add_argument("model")
    parser.add_argument("--drain", type=int, default=1, help="most requests per run (1: one request per run)")
    args = parser.parse_args()
    peer = Peer(args.name, args.model, max(1, args.drain))
    print(json.dumps({"event": "ready", "listen": peer.endpoint}), flush=True)
    peer.serve()


if __name__ == "__main__":
    sys.exit(main())
