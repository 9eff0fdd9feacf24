"""A grpcio (asyncio) + onnxruntime server of zserve.v1.Inference/Predict, written the way a user of those libraries
would: stubs generated from Protos/ by grpcio-tools, one onnxruntime session, one run per call.

    python grpc_peer.py MODEL_NAME MODEL.onnx [--echo]

--echo answers every call with an empty PredictResponse without decoding or computing: the floor a gRPC load
generator is measured against. Prints {"event": "ready", "listen": "127.0.0.1:PORT"} once bound; runs until killed.
"""

import argparse
import asyncio
import json

import grpc

from tensors import session, to_array, to_tensor
from zserve.v1 import inference_pb2, inference_pb2_grpc


class Inference(inference_pb2_grpc.InferenceServicer):
    def __init__(self, name: str, model_path: str):
        self.name = name
        self.session = session(model_path)
        self.output_names = [value.name for value in self.session.get_outputs()]

    async def Predict(self, request, context):
        if request.model.name != self.name:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"unknown model {request.model.name!r}")
        try:
            feeds = {tensor.name: to_array(tensor) for tensor in request.inputs}
            outputs = self.session.run(None, feeds)
        except Exception as error:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(error))
        return inference_pb2.PredictResponse(
            id=request.id, model=self.name, version=1,
            outputs=[to_tensor(name, output) for name, output in zip(self.output_names, outputs)])


class Echo(inference_pb2_grpc.InferenceServicer):
    async def Predict(self, request, context):
        return inference_pb2.PredictResponse()


async def serve(args) -> None:
    server = grpc.aio.server()
    inference_pb2_grpc.add_InferenceServicer_to_server(Echo() if args.echo else Inference(args.name, args.model), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    print(json.dumps({"event": "ready", "listen": f"127.0.0.1:{port}"}), flush=True)
    await server.wait_for_termination()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("name")
    parser.add_argument("model")
    parser.add_argument("--echo", action="store_true")
    asyncio.run(serve(parser.parse_args()))


if __name__ == "__main__":
    main()
