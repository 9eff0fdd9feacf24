"""PipelinedClient with several servers: the retry policy of Client (failover.py) over one DEALER socket per endpoint.

Requests held by a server that dies are resent to one still connected, up to `retries` each; a state-changing call
never is; a reply that comes after all for a request already resent is dropped, so each request is answered once;
a refused CURVE key is UNAUTHENTICATED. Real `zserve serve` processes where a server must die for real (SIGSTOP,
then SIGKILL with requests in flight) or check keys; stand-ins (failover_testing.ScriptedServer) where one must hold,
drop or reconnect in a precise order.
"""

import shutil
import threading
import time

import numpy as np
import pytest

import zserve_testing
from client_testing import MODEL, assert_close
from failover_testing import EVENT_WAIT_S, ScriptedServer, client_keys, connected_everywhere, numbered, stopped
from zserve_client import PipelinedClient, ZServeError, ZServeTimeout, calls, pipelined

REAL_TIMEOUT_MS = 10_000
# Calls that must time out wait this long (stand-ins; CURVE refusals, which come from a real server, longer).
EXPIRING_TIMEOUT_MS = 500
REFUSED_TIMEOUT_MS = 1000
# receive() waits this long to show that nothing more comes (a held request, a duplicate reply).
QUIET_MS = 500


def warm_up(client: PipelinedClient) -> None:
    """Predicts until the client has seen every server's handshake, so requests alternate between them."""
    deadline = time.monotonic() + EVENT_WAIT_S
    while not connected_everywhere(client):
        assert time.monotonic() < deadline, "the client never connected to every server"
        client.predict_many(MODEL, [numbered(0)] * 2)


def receive_until_quiet(client: PipelinedClient, answered: dict) -> None:
    """Adds {request id: result} for every reply until none comes for QUIET_MS; a request answered twice fails."""
    while True:
        try:
            request_id, result = client.receive(timeout_ms=QUIET_MS)
        except ZServeTimeout as timeout:
            assert not timeout.request_id, f"request {timeout.request_id} timed out"
            return
        assert request_id not in answered, f"{request_id} answered twice"
        answered[request_id] = result


def outcomes(client: PipelinedClient, request_ids) -> dict:
    """{request id: result or ZServeError} until each of request_ids has one; a request answered twice fails."""
    found = {}
    while len(found) < len(request_ids):
        try:
            request_id, result = client.receive(timeout_ms=REAL_TIMEOUT_MS)
        except ZServeError as error:
            assert error.request_id, error
            request_id, result = error.request_id, error
        assert request_id not in found, f"{request_id} answered twice"
        found[request_id] = result
    return found


def in_background(work) -> threading.Thread:
    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    return thread


def test_requests_in_flight_on_a_killed_server_are_answered_once_by_the_other(features, reference):
    rows = features(40)
    with zserve_testing.run_server(zserve_testing.EXAMPLE_REPOSITORY, "--workers", "1") as doomed, \
            zserve_testing.run_server(zserve_testing.EXAMPLE_REPOSITORY, "--workers", "1") as survivor, \
            PipelinedClient([doomed.listen, survivor.listen], timeout_ms=REAL_TIMEOUT_MS) as client:
        warm_up(client)
        answered = {}
        with stopped(doomed):  # the requests sent there wait
            ids = [client.send_predict(MODEL, {"features": row[None]}, request_id=f"r{index}")
                   for index, row in enumerate(rows)]
            receive_until_quiet(client, answered)
            assert len(answered) < len(ids), "no request went to the stopped server"
            doomed.kill()
        while len(answered) < len(ids):
            request_id, result = client.receive()
            assert request_id not in answered, f"{request_id} answered twice"
            answered[request_id] = result
        receive_until_quiet(client, answered)
        assert sorted(answered) == sorted(ids)
        for request_id, row in zip(ids, rows):
            version, outputs = answered[request_id]
            assert version == 1
            assert_close(outputs["probability"], reference(row[None]))
        # predict_many goes on with the server that is left, results in input order.
        results = client.predict_many(MODEL, [{"features": row[None]} for row in rows[:10]])
        assert_close(np.concatenate([outputs["probability"] for _, outputs in results]), reference(rows[:10]))


@pytest.mark.parametrize("retries", [2, 0], ids=["default-retries", "no-retries"])
def test_requests_a_server_drops_are_resent_or_wait_out_their_timeout(retries):
    with ScriptedServer() as holder, ScriptedServer(version_base=100) as answerer, \
            PipelinedClient([holder.endpoint, answerer.endpoint],
                            timeout_ms=REAL_TIMEOUT_MS if retries else EXPIRING_TIMEOUT_MS, retries=retries) as client:
        warm_up(client)
        holder.hold()
        before = len(holder.received)
        ids = [client.send_predict(MODEL, numbered(index), request_id=f"r{index}") for index in range(10)]
        dropping = in_background(lambda: (holder.wait_for_requests(before + 1), holder.drop()))
        found = outcomes(client, ids)
        dropping.join()
        held = {request_id for request_id in holder.request_ids()[before:] if request_id in ids}
        failed = {request_id for request_id, result in found.items() if isinstance(result, ZServeError)}
        assert held and all(found[request_id][0] == 100 + int(request_id[1:])
                            for request_id in found if request_id not in failed)
        if retries:
            assert not failed and held <= set(answerer.request_ids()), "the held requests were resent"
        else:
            assert held <= failed and not failed & set(answerer.request_ids())
            assert {found[request_id].code_name for request_id in failed} == {"DEADLINE_EXCEEDED"}
        assert [version for version, _ in client.predict_many(MODEL, [numbered(index) for index in range(3)])] \
            == [100, 101, 102]


def test_a_state_changing_call_on_a_dropped_server_is_not_resent():
    # The gate keeps the other server's handshake from completing, so both calls go to the holder. The pipelined
    # client's own methods only predict; a SetLabel takes the same path (Dealers), submitted directly here. (Twice
    # the usual timeout: the Predict's resend must come within it.)
    with ScriptedServer(hold=True) as holder, ScriptedServer(version_base=100, gated=True) as other, \
            PipelinedClient([holder.endpoint, other.endpoint], timeout_ms=2 * EXPIRING_TIMEOUT_MS) as client:
        client._submit(calls.set_label(MODEL, "canary", 2, 10), pipelined._SENT)
        client.send_predict(MODEL, numbered(4), request_id="read")

        def drop_the_holder():
            holder.wait_for_requests(2)
            other.open_gate()
            other.wait_for_handshakes(1)
            holder.drop()

        dropping = in_background(drop_the_holder)
        request_id, (version, _) = client.receive(timeout_ms=REAL_TIMEOUT_MS)
        assert (request_id, version) == ("read", 104), "the Predict was resent to the other server"
        with pytest.raises(ZServeTimeout) as raised:
            client.receive(timeout_ms=REAL_TIMEOUT_MS)
        assert "SetLabel" in raised.value.message and "resent" not in raised.value.message
        dropping.join()
        assert holder.methods() == ["SetLabel", "Predict"] and other.methods() == ["Predict"]


def test_a_reply_that_comes_after_all_for_a_resent_request_is_dropped():
    with ScriptedServer() as first, ScriptedServer(version_base=100) as second, \
            PipelinedClient([first.endpoint, second.endpoint], timeout_ms=REAL_TIMEOUT_MS) as client:
        warm_up(client)
        first.hold()
        second.hold()
        handshakes, first_before, second_before = first.handshakes, len(first.received), len(second.received)
        # The first server's connection is lost and made again while the client reads no events: when it does, the
        # loss makes it resend the request it has meanwhile sent on the new connection, which then gets two replies.
        first.restart()
        first.wait_for_handshakes(handshakes + 1)
        ids = [client.send_predict(MODEL, numbered(index), request_id=f"x{index}") for index in (1, 2)]
        # The second server answers once it has its own request and the resent one.
        releasing = in_background(lambda: (second.wait_for_requests(second_before + 2), second.release()))
        answered = {}
        for _ in ids:
            request_id, (version, _) = client.receive()
            answered[request_id] = version
        releasing.join()
        assert answered == {"x1": 101, "x2": 102}, "the second server answered both"
        resent = first.request_ids()[first_before:]
        assert len(resent) == 1, "one request went out on the new connection, then to the second server too"
        assert sorted(second.request_ids()[second_before:]) == sorted(ids)
        first.release()  # its reply to the resent request comes too
        with pytest.raises(ZServeTimeout) as raised:
            client.receive(timeout_ms=QUIET_MS)
        assert not raised.value.request_id, "no second reply to a request already answered"
        assert [version for version, _ in client.predict_many(MODEL, [numbered(5)])] in ([5], [105])


def test_replies_that_came_before_their_server_closed_the_connection_are_read():
    # A server that answers and then exits (a drain on SIGTERM): its last replies arrive just before the connection
    # closes, while the client is not reading. With retries=0 they can only come from those replies.
    with ScriptedServer() as server, PipelinedClient(server.endpoint, timeout_ms=REAL_TIMEOUT_MS, retries=0) \
            as client:
        warm_up(client)
        server.hold()
        before = len(server.received)
        ids = [client.send_predict(MODEL, numbered(index), request_id=f"r{index}") for index in range(5)]
        server.wait_for_requests(before + len(ids))
        server.release()
        server.drop(flush=True)
        # Wait until the client's side saw the connection close (its monitor holds the event), replies unread.
        assert client._dealers.channels[0].monitor.poll(EVENT_WAIT_S * 1000), "the connection never closed"
        answered = dict(client.receive() for _ in ids)
    assert {request_id: version for request_id, (version, _) in answered.items()} \
        == {f"r{index}": index for index in range(5)}


def test_a_refused_key_is_unauthenticated_and_a_refusal_elsewhere_costs_nothing(curve_servers, curve_keys, features):
    allowing, refusing = curve_servers
    keys = client_keys(curve_keys, "client")
    with PipelinedClient([refusing, allowing], timeout_ms=REAL_TIMEOUT_MS, curve=keys) as client:
        results = client.predict_many(MODEL, [{"features": features(1)} for _ in range(20)])
        assert [version for version, _ in results] == [1] * 20
    with PipelinedClient(refusing, timeout_ms=REFUSED_TIMEOUT_MS, curve=keys) as client:
        client.send_predict(MODEL, {"features": features(1)}, request_id="alone")
        with pytest.raises(ZServeError) as refused_many:
            client.predict_many(MODEL, [{"features": features(1)}] * 3)
        with pytest.raises(ZServeError) as refused_one:
            client.receive()
    assert refused_many.value.code_name == "UNAUTHENTICATED"
    assert "refused this client's key" in refused_many.value.message
    assert (refused_one.value.code_name, refused_one.value.request_id) == ("UNAUTHENTICATED", "alone")


def test_a_key_allowed_after_a_refusal_works_on_the_next_call(curve_keys, tmp_path, features):
    allowed = tmp_path / "allowed"
    allowed.mkdir()
    shutil.copy(curve_keys / "stranger.pub", allowed)
    with zserve_testing.run_server(zserve_testing.EXAMPLE_REPOSITORY, "--workers", "1", "--server-key",
                                   str(curve_keys / "server.key"), "--frontend-keys", str(allowed)) as server, \
            PipelinedClient(server.listen, timeout_ms=REFUSED_TIMEOUT_MS, curve=client_keys(curve_keys, "client")) \
            as client:
        with pytest.raises(ZServeError, match="UNAUTHENTICATED"):
            client.predict_many(MODEL, [{"features": features(1)}])
        shutil.copy(curve_keys / "client.pub", allowed)  # libzmq does not try a refused key again: a new socket does
        client.timeout_ms = REAL_TIMEOUT_MS
        assert [version for version, _ in client.predict_many(MODEL, [{"features": features(1)}] * 3)] == [1] * 3
