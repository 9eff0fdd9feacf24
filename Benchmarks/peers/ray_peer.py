"""Ray Serve + onnxruntime, written the way a Ray Serve user would: one deployment per model whose replica holds an
onnxruntime session, requests batched by Ray Serve's own @serve.batch, JSON over HTTP.

    python ray_peer.py NAME=MODEL.onnx [NAME=MODEL.onnx ...] [--max-batch-size 64] [--batch-wait-ms 1]

A POST to /NAME with {"input name": nested list, ...} (one row or more) returns {"output name": nested list}. Ray
runs on this machine only (`ray.init` with 2 CPUs, no dashboard). Prints {"event": "ready", "listen":
"http://127.0.0.1:PORT"} once every application is running; runs until SIGTERM, then shuts Ray down.
"""

import argparse
import json
import signal
import socket
import threading

import numpy as np
import ray
from ray import serve
from starlette.requests import Request


@serve.deployment(max_ongoing_requests=256)
class OnnxModel:
    def __init__(self, model_path: str, max_batch_size: int, batch_wait_s: float):
        import onnxruntime as ort
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1  # as every other system here: one compute thread per worker
        options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(model_path, options, providers=["CPUExecutionProvider"])
        self.inputs = [(value.name, value.type) for value in self.session.get_inputs()]
        self.outputs = [value.name for value in self.session.get_outputs()]
        self.predict_batch.set_max_batch_size(max_batch_size)
        self.predict_batch.set_batch_wait_timeout_s(batch_wait_s)

    @serve.batch(max_batch_size=64, batch_wait_timeout_s=0.001)
    async def predict_batch(self, bodies: list[dict]) -> list[dict]:
        feeds = {}
        for name, kind in self.inputs:
            dtype = np.int64 if "int64" in kind else np.float32
            feeds[name] = np.concatenate([np.asarray(body[name], dtype=dtype) for body in bodies])
        outputs = self.session.run(None, feeds)
        rows = [len(body[self.inputs[0][0]]) for body in bodies]
        replies, start = [], 0
        for count in rows:
            replies.append({name: output[start:start + count].tolist() for name, output in zip(self.outputs, outputs)})
            start += count
        return replies

    async def __call__(self, request: Request) -> dict:
        return await self.predict_batch(await request.json())


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("models", nargs="+", help="NAME=MODEL.onnx")
    parser.add_argument("--max-batch-size", type=int, default=64)
    parser.add_argument("--batch-wait-ms", type=float, default=1.0)
    args = parser.parse_args()
    port = free_port()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    for spec in args.models:
        name, path = spec.split("=", 1)
        serve.run(OnnxModel.bind(path, args.max_batch_size, args.batch_wait_ms / 1000), name=name,
                  route_prefix=f"/{name}")
    print(json.dumps({"event": "ready", "listen": f"http://127.0.0.1:{port}"}), flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    serve.shutdown()
    ray.shutdown()


if __name__ == "__main__":
    main()
