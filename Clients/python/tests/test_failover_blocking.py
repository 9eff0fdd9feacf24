"""Client and AdminClient with several servers (failover.py): a read-only call whose connection is lost is resent to
a server still connected; ModelControl calls never are; once resends are used up the call waits for its reply until
the timeout, and only a lost connection that had completed its handshake counts (as the C client).

Real `zserve serve` processes where a server must die for real (SIGSTOP, then SIGKILL while it holds a call); stand-in
servers (failover_testing.ScriptedServer) where one must hold, drop or refuse in a precise order.
"""

import threading
import time

import pytest

import zserve_testing
from client_testing import MODEL, assert_close
from failover_testing import ScriptedServer, client_keys, numbered, stopped, wait_until_quiet
from zserve_client import AdminClient, Client, ZServeError, ZServeTimeout

# Calls that must succeed (a broken resend fails them only after this).
REAL_TIMEOUT_MS = 10_000
# Calls that must time out wait this long (stand-ins; CURVE refusals, which come from a real server, longer).
EXPIRING_TIMEOUT_MS = 500
REFUSED_TIMEOUT_MS = 1000
QUIET_S = 0.5
# Lets the client read its monitor (every 50 ms while it waits) before the test goes on: orders events, asserts
# nothing about speed (too short, and the test passes without checking what it is meant to).
SEEN_S = 0.3


class Background:
    """Runs `work()` in a thread; `result()` joins it and returns what it returned or raises what it raised."""

    def __init__(self, work):
        self._outcome = {}
        self._thread = threading.Thread(target=self._run, args=(work,), daemon=True)
        self._thread.start()

    def _run(self, work):
        try:
            self._outcome["value"] = work()
        except BaseException as error:  # noqa: BLE001 (handed to the test's thread)
            self._outcome["error"] = error

    def result(self, timeout_s: float = 30):
        self._thread.join(timeout_s)
        assert not self._thread.is_alive(), "the call never ended"
        if "error" in self._outcome:
            raise self._outcome["error"]
        return self._outcome["value"]


def test_every_call_succeeds_when_a_server_is_killed_while_it_holds_one(features, reference):
    rows = features(40)
    with zserve_testing.run_server(zserve_testing.EXAMPLE_REPOSITORY, "--workers", "1") as doomed, \
            zserve_testing.run_server(zserve_testing.EXAMPLE_REPOSITORY, "--workers", "1") as survivor, \
            Client([doomed.listen, survivor.listen], timeout_ms=REAL_TIMEOUT_MS) as client:
        for row in rows[:20]:
            assert_close(client.predict(MODEL, {"features": row[None]})[1]["probability"], reference(row[None]))
        answered = []
        with stopped(doomed):  # the next call sent there waits
            calls = Background(lambda: [answered.append(client.predict(MODEL, {"features": row[None]}))
                                        for row in rows[20:]])
            assert wait_until_quiet(lambda: len(answered), QUIET_S) < 20, "no call went to the stopped server"
            doomed.kill()
        calls.result()
        for row, (version, outputs) in zip(rows[20:], answered, strict=True):
            assert version == 1
            assert_close(outputs["probability"], reference(row[None]))


@pytest.mark.parametrize("retries", [2, 0], ids=["default-retries", "no-retries"])
def test_a_call_its_server_drops_is_resent_to_the_other_or_waits_out_its_timeout(retries):
    # The gate keeps the other server's handshake from completing, so the call can only go to the holder.
    with ScriptedServer(hold=True) as holder, ScriptedServer(version_base=100, gated=True) as other, \
            Client([holder.endpoint, other.endpoint], timeout_ms=REAL_TIMEOUT_MS if retries else EXPIRING_TIMEOUT_MS,
                   retries=retries) as client:
        call = Background(lambda: client.predict(MODEL, numbered(7), request_id="held"))
        holder.wait_for_requests(1)
        other.open_gate()
        other.wait_for_handshakes(1)
        holder.drop()
        if retries:
            assert call.result()[0] == 107, "answered by the other server"
            assert other.request_ids() == ["held"]
        else:
            with pytest.raises(ZServeTimeout) as raised:
                call.result()
            assert (raised.value.code_name, raised.value.request_id) == ("DEADLINE_EXCEEDED", "held")
            assert "resent" not in raised.value.message and other.request_ids() == []
        # Either way the client goes on with the server that is left.
        assert client.predict(MODEL, numbered(3))[0] == 103


def test_a_lost_connection_elsewhere_does_not_end_a_call_whose_resends_are_used_up():
    with ScriptedServer(gated=True) as dropping, ScriptedServer(version_base=100, hold=True) as holder, \
            Client([dropping.endpoint, holder.endpoint], timeout_ms=REAL_TIMEOUT_MS, retries=0) as client:
        call = Background(lambda: client.predict(MODEL, numbered(5)))
        holder.wait_for_requests(1)  # the only server connected when the call went out
        dropping.open_gate()
        dropping.wait_for_handshakes(1)
        dropping.drop()  # a connection that had completed its handshake is lost while the call waits
        time.sleep(SEEN_S)
        holder.release()
        assert call.result()[0] == 105, "the call waited for its reply, which came from the server still connected"


def test_a_refused_handshake_elsewhere_neither_ends_the_call_nor_uses_up_a_resend():
    with ScriptedServer(refuse=True) as refusing, ScriptedServer(hold=True) as holder, \
            ScriptedServer(version_base=100, gated=True) as other, \
            Client([refusing.endpoint, holder.endpoint, other.endpoint], timeout_ms=REAL_TIMEOUT_MS,
                   retries=1) as client:
        call = Background(lambda: client.predict(MODEL, numbered(9), request_id="refused-elsewhere"))
        holder.wait_for_requests(1)
        time.sleep(SEEN_S)  # the refusal (and its lost connection) is read while the call waits
        other.open_gate()
        other.wait_for_handshakes(1)
        holder.drop()
        assert call.result()[0] == 109, "the one resend went to the other server"
        assert holder.request_ids() == ["refused-elsewhere"] and other.request_ids() == ["refused-elsewhere"]


def test_a_model_control_call_is_never_resent():
    with ScriptedServer(hold=True) as holder, ScriptedServer(gated=True) as other, \
            AdminClient([holder.endpoint, other.endpoint], timeout_ms=EXPIRING_TIMEOUT_MS) as admin:
        call = Background(lambda: admin.set_label(MODEL, "canary", 2, weight=10))
        holder.wait_for_requests(1)
        other.open_gate()
        other.wait_for_handshakes(1)
        holder.drop()
        with pytest.raises(ZServeTimeout) as raised:
            call.result()
        assert raised.value.code_name == "DEADLINE_EXCEEDED"
        assert holder.methods() == ["SetLabel"] and other.methods() == [], "the label was not set a second time"
        admin.list_models()
        assert other.methods() == ["ListModels"]


def test_a_refused_key_is_unauthenticated_and_a_refusal_elsewhere_costs_nothing(curve_servers, curve_keys, features):
    allowing, refusing = curve_servers
    keys = client_keys(curve_keys, "client")
    with Client([refusing, allowing], timeout_ms=REAL_TIMEOUT_MS, curve=keys) as client:
        assert [client.predict(MODEL, {"features": features(1)})[0] for _ in range(10)] == [1] * 10
    with Client(refusing, timeout_ms=REFUSED_TIMEOUT_MS, curve=keys) as client:
        with pytest.raises(ZServeError) as refused:
            client.predict(MODEL, {"features": features(1)}, request_id="refused")
    assert (refused.value.code_name, refused.value.request_id) == ("UNAUTHENTICATED", "refused")
    assert "refused this client's key" in refused.value.message
