"""Several "hosts" on one machine: network namespaces joined by veth pairs to a bridge in a switch namespace of
their own, so tests run the real binaries on separate network stacks and can cut a host's link.

Everything lives in namespaces this module creates (names carry the test process id) and removes on exit; the
machine's own interfaces and routes are never touched. Needs root (`ip netns add`); `skip_unless_possible()` skips a
test module where that is not allowed.
"""

import contextlib
import dataclasses
import os
import subprocess

import pytest

SUBNET = "10.77.{}.{}"


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True)


def skip_unless_possible() -> None:
    """Skips the calling module unless this process may create network namespaces."""
    if os.geteuid() != 0:
        pytest.skip("network namespaces need root", allow_module_level=True)
    probe = f"zt{os.getpid()}probe"
    try:
        _ip("netns", "add", probe)
        _ip("netns", "del", probe)
    except (subprocess.CalledProcessError, FileNotFoundError) as error:
        pytest.skip(f"cannot create network namespaces here: {error}", allow_module_level=True)


@dataclasses.dataclass
class Host:
    """One namespace with interface eth0 at `address` on the test's private subnet."""

    name: str
    namespace: str
    address: str
    # The switch namespace and the name of this host's link's end there (traffic toward the host leaves through it).
    switch: str = ""
    switch_end: str = ""

    def command(self, *args: str) -> list[str]:
        """`args` run inside this host's namespace."""
        return ["ip", "netns", "exec", self.namespace, *args]

    def popen(self, *args: str, **kwargs) -> subprocess.Popen:
        return subprocess.Popen(self.command(*args), **kwargs)

    def run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        return subprocess.run(self.command(*args), capture_output=True, text=True, timeout=timeout)

    def set_link(self, up: bool) -> None:
        """Cuts (or restores) this host's only link, as `ip link set eth0 down` on the host would."""
        _ip("-n", self.namespace, "link", "set", "eth0", "up" if up else "down")

    def limit_rate(self, rate: str) -> None:
        """Makes this host's link slow both ways (a token bucket, `tc qdisc ... tbf`, e.g. rate "4mbit")."""
        for namespace, device in ((self.namespace, "eth0"), (self.switch, self.switch_end)):
            _tc(namespace, "qdisc", "add", "dev", device, "root", "tbf", "rate", rate, "burst", "32kbit",
                "latency", "2s")

    def delay(self, milliseconds: int) -> None:
        """Adds latency both ways (`tc qdisc ... netem delay`); raises QdiscUnavailable where the kernel lacks netem."""
        for namespace, device in ((self.namespace, "eth0"), (self.switch, self.switch_end)):
            _tc(namespace, "qdisc", "add", "dev", device, "root", "netem", "delay", f"{milliseconds}ms")


class QdiscUnavailable(Exception):
    """The kernel has no such queueing discipline (these machines' kernels lack netem)."""


def _tc(namespace: str, *args: str) -> None:
    result = subprocess.run(["ip", "netns", "exec", namespace, "tc", *args], capture_output=True, text=True)
    if result.returncode != 0:
        if "Specified qdisc kind is unknown" in result.stderr or "Unknown qdisc" in result.stderr:
            raise QdiscUnavailable(f"tc {' '.join(args)}: {result.stderr.strip()}")
        raise subprocess.CalledProcessError(result.returncode, result.args, result.stdout, result.stderr)


class Network:
    """A switch namespace with a bridge, and hosts attached to it; use as a context manager."""

    def __init__(self):
        self.prefix = f"zt{os.getpid() % 100000}"
        self.switch = f"{self.prefix}-sw"
        self.subnet = os.getpid() % 200 + 20
        self.hosts: list[Host] = []

    def __enter__(self) -> "Network":
        _ip("netns", "add", self.switch)
        _ip("-n", self.switch, "link", "add", "br0", "type", "bridge")
        _ip("-n", self.switch, "link", "set", "br0", "up")
        return self

    def add_host(self, name: str) -> Host:
        """A new namespace `name`, its eth0 bridged to the others at the next address."""
        index = len(self.hosts) + 2
        namespace = f"{self.prefix}-{name}"
        host_end, switch_end = f"{self.prefix}h{index}", f"{self.prefix}s{index}"
        _ip("netns", "add", namespace)
        _ip("-n", namespace, "link", "set", "lo", "up")
        _ip("link", "add", host_end, "type", "veth", "peer", "name", switch_end)
        _ip("link", "set", host_end, "netns", namespace)
        _ip("link", "set", switch_end, "netns", self.switch)
        _ip("-n", namespace, "link", "set", host_end, "name", "eth0")
        address = SUBNET.format(self.subnet, index)
        _ip("-n", namespace, "addr", "add", f"{address}/24", "dev", "eth0")
        _ip("-n", namespace, "link", "set", "eth0", "up")
        _ip("-n", self.switch, "link", "set", switch_end, "master", "br0")
        _ip("-n", self.switch, "link", "set", switch_end, "up")
        host = Host(name, namespace, address, self.switch, switch_end)
        self.hosts.append(host)
        return host

    def __exit__(self, *exc_info) -> None:
        for namespace in [host.namespace for host in self.hosts] + [self.switch]:
            with contextlib.suppress(subprocess.CalledProcessError):
                _ip("netns", "del", namespace)
