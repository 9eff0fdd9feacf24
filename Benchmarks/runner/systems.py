"""Starting and stopping the servers measured: each prints one JSON ready line with its endpoint on stdout."""

import contextlib
import json
import os
import select
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field


@dataclass
class Running:
    """A started server: its endpoint (from the ready line) and process (the leader of its own process group)."""

    endpoint: str
    process: subprocess.Popen
    log: object = field(repr=False)

    def cpu_seconds(self) -> float:
        """User + system CPU time of the server process so far (its own threads, not children)."""
        with open(f"/proc/{self.process.pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def log_tail(self) -> str:
        self.log.seek(0)
        return self.log.read()[-3000:].decode(errors="replace")


class StartFailure(Exception):
    """The server did not print its ready line in time."""


@contextlib.contextmanager
def started(command: list[str], env: dict | None = None, ready_timeout: float = 60, stop_timeout: float = 20):
    """Runs `command` in its own process group until the block ends; yields Running once its ready line arrived.

    On exit: SIGTERM to the process, then SIGKILL to its whole group (Ray leaves helper processes) if it has not
    ended within `stop_timeout`."""
    log = tempfile.TemporaryFile()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log, env=env, start_new_session=True)
    try:
        deadline = time.monotonic() + ready_timeout
        line = b""
        while not line.endswith(b"\n"):
            remaining = deadline - time.monotonic()
            if remaining <= 0 or process.poll() is not None:
                log.seek(0)
                raise StartFailure(f"{command[0]} {' '.join(command[1:3])}: no ready line "
                                   f"(exit {process.poll()}): {log.read()[-1500:].decode(errors='replace')}")
            if select.select([process.stdout], [], [], min(remaining, 0.5))[0]:
                chunk = os.read(process.stdout.fileno(), 4096)
                if not chunk:
                    continue
                line += chunk
        ready = json.loads(line.split(b"\n", 1)[0])
        yield Running(endpoint=ready["listen"], process=process, log=log)
    finally:
        stop(process, stop_timeout)
        log.close()


def stop(process: subprocess.Popen, timeout: float) -> None:
    """Ends a server started by `started`: SIGTERM, then SIGKILL to its process group."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pass
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=5)
