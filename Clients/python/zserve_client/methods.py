"""The frontend's methods, written once for the blocking Client and the AsyncClient.

Each method hands a Call builder and its arguments to the client's `_invoke(make_call, *args)`: a blocking client
returns the result, the asyncio client returns a coroutine that builds the call and awaits the reply (so a bad input
is raised where the coroutine is awaited).
"""

from . import calls


class ControlReadMethods:
    """ListModels and ModelStatus, which the frontend and the admin endpoint both answer."""

    def list_models(self):
        """Returns the ListModelsResponse: every model (versions, states, default version, labels) and the workers."""
        return self._invoke(calls.list_models)

    def model_status(self, model: str):
        """Returns one model's ModelInfo: versions and their states, default version and labels."""
        return self._invoke(calls.model_status, model)


class InferenceMethods:
    """The Inference service: Predict, ModelMetadata, ServerReady, ModelReady."""

    def predict(self, model: str, inputs: dict, version: int | None = None, label: str = "",
                request_id: str | None = None, timeout_us: int = 0, output_names=()):
        """Runs a model on named numpy arrays; returns (the version that computed it, {output name: array}).

        version pins a version, else label picks one, else the model's default serves; request_id defaults to a
        new uuid; timeout_us > 0 lets the server drop the request (DEADLINE_EXCEEDED) once it waited that long;
        output_names limits the outputs returned.
        """
        return self._invoke(calls.predict, model, inputs, version, label, request_id, timeout_us, output_names)

    def model_metadata(self, model: str, version: int | None = None, label: str = ""):
        """Returns the selected version's ModelMetadataResponse: input and output specs (-1: any size)."""
        return self._invoke(calls.model_metadata, model, version, label)

    def server_ready(self):
        """Whether the server is ready to serve (a bool)."""
        return self._invoke(calls.server_ready)

    def model_ready(self, model: str, version: int | None = None, label: str = ""):
        """Whether the selected model version is ready (a bool)."""
        return self._invoke(calls.model_ready, model, version, label)
