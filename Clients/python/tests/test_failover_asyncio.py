"""AsyncClient with several servers: the retry policy of Client (failover.py) over one DEALER socket per endpoint.

Calls held by a server that dies are resent to one still connected, up to `retries` each; a state-changing call
never is; a reply that comes after all for a call already resent is dropped, and the client goes on; a refused CURVE
key is UNAUTHENTICATED. Real `zserve serve` processes where a server must die for real (SIGSTOP, then SIGKILL with
calls in flight) or check keys; stand-ins (failover_testing.ScriptedServer) where one must hold, drop or reconnect in
a precise order.
"""

import asyncio
import shutil
import time

import pytest

import zserve_testing
from client_testing import MODEL, assert_close
from failover_testing import EVENT_WAIT_S, ScriptedServer, client_keys, connected_everywhere, numbered, stopped
from zserve_client import AsyncClient, ZServeError, ZServeTimeout, calls

REAL_TIMEOUT_MS = 10_000
# Calls that must time out wait this long (stand-ins; CURVE refusals, which come from a real server, longer).
EXPIRING_TIMEOUT_MS = 500
REFUSED_TIMEOUT_MS = 1000
# How long no call may complete to count the rest as held by a stopped server.
QUIET_S = 0.5
# Lets the client's I/O thread take what arrived while the event loop is blocked: orders events, asserts nothing
# about speed (too short, and the test passes without checking what it is meant to).
SEEN_S = 0.3


def run(coroutine):
    return asyncio.run(coroutine)


async def warm_up(client: AsyncClient) -> None:
    """Calls until the client has seen every server's handshake, so calls alternate between them."""
    deadline = time.monotonic() + EVENT_WAIT_S
    while not connected_everywhere(client):
        assert time.monotonic() < deadline, "the client never connected to every server"
        await asyncio.gather(client.predict(MODEL, numbered(0)), client.predict(MODEL, numbered(0)))


async def in_thread(work):
    """Runs a blocking step (waiting on a stand-in) without blocking the event loop."""
    return await asyncio.to_thread(work)


def test_calls_in_flight_on_a_killed_server_are_answered_by_the_other(features, reference):
    rows = features(40)
    with zserve_testing.run_server(zserve_testing.EXAMPLE_REPOSITORY, "--workers", "1") as doomed, \
            zserve_testing.run_server(zserve_testing.EXAMPLE_REPOSITORY, "--workers", "1") as survivor:
        async def main():
            async with AsyncClient([doomed.listen, survivor.listen], timeout_ms=REAL_TIMEOUT_MS) as client:
                await warm_up(client)
                with stopped(doomed):  # the calls sent there wait
                    waiting = [asyncio.ensure_future(client.predict(MODEL, {"features": row[None]})) for row in rows]
                    done, pending = await asyncio.wait(waiting, timeout=QUIET_S)
                    while True:
                        more, pending = await asyncio.wait(pending, timeout=QUIET_S)
                        if not more:
                            break
                    assert pending, "no call went to the stopped server"
                    doomed.kill()
                results = await asyncio.gather(*waiting)
                again = await client.predict(MODEL, {"features": rows[:1]})
                return results, again

        results, again = run(main())
    for row, (version, outputs) in zip(rows, results, strict=True):
        assert version == 1
        assert_close(outputs["probability"], reference(row[None]))
    assert again[0] == 1


@pytest.mark.parametrize("retries", [2, 0], ids=["default-retries", "no-retries"])
def test_calls_a_server_drops_are_resent_or_wait_out_their_timeout(retries):
    with ScriptedServer() as holder, ScriptedServer(version_base=100) as answerer:
        async def main():
            async with AsyncClient([holder.endpoint, answerer.endpoint],
                                   timeout_ms=REAL_TIMEOUT_MS if retries else EXPIRING_TIMEOUT_MS,
                                   retries=retries) as client:
                await warm_up(client)
                holder.hold()
                before = len(holder.received)
                waiting = asyncio.gather(*(client.predict(MODEL, numbered(index), request_id=f"r{index}")
                                           for index in range(10)), return_exceptions=True)
                await in_thread(lambda: holder.wait_for_requests(before + 1))
                holder.drop()
                results = await waiting
                after = await asyncio.gather(*(client.predict(MODEL, numbered(index)) for index in range(3)))
                return before, results, after

        before, results, after = run(main())
        held = {int(request_id[1:]) for request_id in holder.request_ids()[before:] if request_id.startswith("r")}
        reached_answerer = {int(request_id[1:]) for request_id in answerer.request_ids() if request_id.startswith("r")}
    failed = {index for index, result in enumerate(results) if isinstance(result, BaseException)}
    assert held and all(results[index][0] == 100 + index for index in range(10) if index not in failed)
    # (A call sent to the holder may still be unread there when it drops: lost all the same.)
    if retries:
        assert not failed and held <= reached_answerer, "the held calls were resent"
    else:
        assert held <= failed and not failed & reached_answerer, "no call was resent"
        assert {type(results[index]) for index in failed} == {ZServeTimeout}
    assert [version for version, _ in after] == [100, 101, 102]


def test_a_state_changing_call_on_a_dropped_server_is_not_resent():
    # The gate keeps the other server's handshake from completing, so both calls go to the holder. AsyncClient's
    # own methods only read; a SetLabel takes the same path (_invoke), given to it directly here.
    with ScriptedServer(hold=True) as holder, ScriptedServer(version_base=100, gated=True) as other:
        async def main():
            # (Twice as long: the Predict's resend must come within it.)
            async with AsyncClient([holder.endpoint, other.endpoint], timeout_ms=2 * EXPIRING_TIMEOUT_MS) as client:
                label = asyncio.ensure_future(client._invoke(calls.set_label, MODEL, "canary", 2, 10))
                read = asyncio.ensure_future(client.predict(MODEL, numbered(4), request_id="read"))
                await in_thread(lambda: holder.wait_for_requests(2))
                other.open_gate()
                await in_thread(lambda: other.wait_for_handshakes(1))
                holder.drop()
                return await asyncio.gather(label, read, return_exceptions=True)

        label, read = run(main())
        assert read[0] == 104, "the Predict was resent to the other server"
        assert isinstance(label, ZServeTimeout) and "resent" not in label.message
        assert holder.methods() == ["SetLabel", "Predict"] and other.methods() == ["Predict"]


def test_a_reply_that_comes_after_all_for_a_resent_call_is_dropped_and_the_client_goes_on():
    with ScriptedServer() as first, ScriptedServer(version_base=100) as second:
        async def main():
            async with AsyncClient([first.endpoint, second.endpoint], timeout_ms=REAL_TIMEOUT_MS) as client:
                await warm_up(client)
                first.hold()
                second.hold()
                handshakes, first_before, second_before = first.handshakes, len(first.received), len(second.received)
                # The first server's connection is lost and made again while the event loop is blocked here, so
                # the client reads the loss only after sending a call on the new connection: it resends that call,
                # which then gets two replies.
                first.restart()
                first.wait_for_handshakes(handshakes + 1)
                waiting = [asyncio.ensure_future(client.predict(MODEL, numbered(index), request_id=f"x{index}"))
                           for index in (1, 2)]
                await in_thread(lambda: second.wait_for_requests(second_before + 2))
                second.release()
                answered = await asyncio.gather(*waiting)
                first.release()  # its reply to the resent call comes too
                await in_thread(lambda: first.wait_for(lambda: not first._held, "held reply sent"))
                later = await asyncio.gather(*(client.predict(MODEL, numbered(index)) for index in (3, 4)))
                return first_before, second_before, answered, later

        first_before, second_before, answered, later = run(main())
        assert [version for version, _ in answered] == [101, 102], "the second server answered both"
        resent = [request_id for request_id in first.request_ids()[first_before:] if request_id.startswith("x")]
        assert len(resent) == 1, "one call went out on the new connection, then to the second server too"
        assert sorted(second.request_ids()[second_before:second_before + 2]) == ["x1", "x2"]
    assert sorted(version % 100 for version, _ in later) == [3, 4], "the reader took the extra reply and went on"


def test_replies_that_came_before_their_server_closed_the_connection_are_read():
    # A server that answers and then exits (a drain on SIGTERM): its last replies arrive just before the connection
    # closes. With retries=0 they can only come from those replies.
    with ScriptedServer() as server:
        async def main():
            async with AsyncClient(server.endpoint, timeout_ms=REAL_TIMEOUT_MS, retries=0) as client:
                await warm_up(client)
                server.hold()
                before = len(server.received)
                waiting = [asyncio.ensure_future(client.predict(MODEL, numbered(index))) for index in range(5)]
                await asyncio.sleep(0)  # the calls go out
                # From here the event loop is blocked, so the replies and the closed connection arrive unread.
                server.wait_for_requests(before + len(waiting))
                server.release()
                server.drop(flush=True)
                time.sleep(SEEN_S)
                return await asyncio.gather(*waiting)

        assert [version for version, _ in run(main())] == list(range(5))


def test_a_refused_key_is_unauthenticated_and_a_refusal_elsewhere_costs_nothing(curve_servers, curve_keys, features):
    allowing, refusing = curve_servers
    keys = client_keys(curve_keys, "client")

    async def main():
        async with AsyncClient([refusing, allowing], timeout_ms=REAL_TIMEOUT_MS, curve=keys) as client:
            versions = [version for version, _ in await asyncio.gather(
                *(client.predict(MODEL, {"features": features(1)}) for _ in range(20)))]
        async with AsyncClient(refusing, timeout_ms=REFUSED_TIMEOUT_MS, curve=keys) as refused, \
                AsyncClient(allowing, timeout_ms=REFUSED_TIMEOUT_MS) as plain:
            failures = await asyncio.gather(
                refused.predict(MODEL, {"features": features(1)}, request_id="refused"), refused.server_ready(),
                plain.predict(MODEL, {"features": features(1)}), return_exceptions=True)
        return versions, failures

    versions, (refused_predict, refused_ready, plain) = run(main())
    assert versions == [1] * 20
    assert isinstance(refused_predict, ZServeError) and refused_predict.request_id == "refused"
    for error in (refused_predict, refused_ready):
        assert error.code_name == "UNAUTHENTICATED" and "refused this client's key" in error.message
    assert plain.code_name == "UNAUTHENTICATED" and "requires CURVE" in plain.message


def test_a_key_allowed_after_a_refusal_works_on_the_next_call(curve_keys, tmp_path, features):
    allowed = tmp_path / "allowed"
    allowed.mkdir()
    shutil.copy(curve_keys / "stranger.pub", allowed)
    with zserve_testing.run_server(zserve_testing.EXAMPLE_REPOSITORY, "--workers", "1", "--server-key",
                                   str(curve_keys / "server.key"), "--frontend-keys", str(allowed)) as server:
        async def main():
            async with AsyncClient(server.listen, timeout_ms=REFUSED_TIMEOUT_MS,
                                   curve=client_keys(curve_keys, "client")) as client:
                with pytest.raises(ZServeError, match="UNAUTHENTICATED"):
                    await client.predict(MODEL, {"features": features(1)})
                shutil.copy(curve_keys / "client.pub", allowed)  # a refused socket is not tried again: a new one is
                client.timeout_ms = REAL_TIMEOUT_MS
                return await asyncio.gather(*(client.predict(MODEL, {"features": features(1)}) for _ in range(3)))

        assert [version for version, _ in run(main())] == [1] * 3
