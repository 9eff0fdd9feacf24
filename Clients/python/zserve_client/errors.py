"""The one exception type every zserve_client call raises, and its timeout flavour."""


class ZServeError(Exception):
    """A call that failed, named by its gRPC status code (`code_name`, e.g. "NOT_FOUND").

    Raised for a reply whose status is not OK (the server's code and message), a reply that breaks the protocol
    (INTERNAL), no reply in time (DEADLINE_EXCEEDED, as ZServeTimeout), an input the protocol cannot carry
    (INVALID_ARGUMENT, raised before anything is sent) and a call cut short by closing an asyncio client (CANCELLED).
    `request_id` is the Predict request's id when the failure belongs to one, "" otherwise.
    """

    def __init__(self, code_name: str, message: str, request_id: str = ""):
        super().__init__(f"{code_name}: {message}")
        self.code_name = code_name
        self.message = message
        self.request_id = request_id


class ZServeTimeout(ZServeError, TimeoutError):
    """No reply within the client's timeout: code DEADLINE_EXCEEDED, as the Swift and C clients report it.

    Also a TimeoutError, so `except TimeoutError` keeps working.
    """

    def __init__(self, message: str, request_id: str = ""):
        super().__init__("DEADLINE_EXCEEDED", message, request_id)
