"""AsyncClient: many coroutines await calls on one client at once; each gets its own reply."""

import asyncio

import numpy as np
import pytest

from client_testing import MODEL, StandInServer, assert_close
from zserve_client import AsyncClient, ZServeError, ZServeTimeout


def run(coroutine):
    return asyncio.run(coroutine)


def test_concurrent_coroutines_each_get_their_own_prediction(frontend, features, reference):
    batches = [features(rows) for rows in (1, 2, 3, 4) * 16]

    async def main():
        async with AsyncClient(frontend, timeout_ms=30_000) as client:
            return await asyncio.gather(*(client.predict(MODEL, {"features": batch}) for batch in batches))

    results = run(main())
    for batch, (version, outputs) in zip(batches, results, strict=True):
        assert version == 1
        assert_close(outputs["probability"], reference(batch))


def test_an_error_fails_only_its_own_coroutine(frontend, features):
    async def main():
        async with AsyncClient(frontend, timeout_ms=30_000) as client:
            def call(index: int):
                if index == 4:
                    return client.predict("no_such_model", {"features": features(1)}, request_id="missing")
                if index == 6:
                    return client.predict(MODEL, {"features": np.zeros((1, 8), dtype=np.complex64)})
                return client.predict(MODEL, {"features": features(1)})

            return await asyncio.gather(*(call(index) for index in range(8)), return_exceptions=True)

    results = run(main())
    assert (results[4].code_name, results[4].request_id) == ("NOT_FOUND", "missing")
    assert results[6].code_name == "INVALID_ARGUMENT"
    assert [results[index][0] for index in (0, 1, 2, 3, 5, 7)] == [1] * 6


def test_metadata_readiness_and_model_listing(frontend):
    async def main():
        async with AsyncClient(frontend) as client:
            return await asyncio.gather(client.model_metadata(MODEL), client.server_ready(),
                                        client.model_ready(MODEL), client.list_models(), client.model_status(MODEL))

    metadata, server_ready, model_ready, listing, status = run(main())
    assert metadata.version == 1 and [spec.name for spec in metadata.outputs] == ["probability"]
    assert server_ready and model_ready
    assert [model.name for model in listing.models] == [MODEL] and status.default_version == 1


def test_replies_in_any_order_reach_the_coroutine_that_awaits_them():
    with StandInServer(window=20) as stand_in:
        async def main():
            async with AsyncClient(stand_in.endpoint, timeout_ms=5_000) as client:
                return await asyncio.gather(*(client.predict(MODEL, {"features": np.full((1, 8), index, np.float32)})
                                              for index in range(20)))

        results = run(main())
        assert stand_in.most_unanswered == 20  # all twenty were in flight at once, answered in reverse
    assert [version for version, _ in results] == list(range(20))


def test_no_reply_is_a_timeout_and_close_cancels_the_calls_still_waiting(features):
    with StandInServer(window=100, answer=False) as silent:
        async def main():
            client = AsyncClient(silent.endpoint, timeout_ms=200)
            with pytest.raises(ZServeTimeout) as raised:
                await client.predict(MODEL, {"features": features(1)}, request_id="late")
            assert (raised.value.code_name, raised.value.request_id) == ("DEADLINE_EXCEEDED", "late")
            client.timeout_ms = 60_000
            waiting = asyncio.ensure_future(client.predict(MODEL, {"features": features(1)}))
            await asyncio.sleep(0.1)
            client.close()
            with pytest.raises(ZServeError) as cancelled:
                await waiting
            assert cancelled.value.code_name == "CANCELLED"
            with pytest.raises(ZServeError, match="CANCELLED"):
                await client.server_ready()

        run(main())
