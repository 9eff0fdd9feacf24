"""PipelinedClient.predict_many: many requests in flight over one DEALER socket, results in input order."""

import numpy as np
import pytest

from client_testing import MODEL, StandInServer, assert_close
from zserve_client import PipelinedClient, ZServeError, ZServeTimeout


@pytest.fixture
def pipelined(frontend):
    with PipelinedClient(frontend, timeout_ms=30_000) as client:
        yield client


def test_results_come_back_in_input_order(pipelined, features, reference):
    rows = features(300)
    results = pipelined.predict_many(MODEL, [{"features": row[None]} for row in rows], max_in_flight=32)
    assert [version for version, _ in results] == [1] * len(rows)
    assert_close(np.concatenate([outputs["probability"] for _, outputs in results]), reference(rows))


def test_inputs_may_be_a_generator_of_different_batch_sizes(pipelined, features, reference):
    batches = [features(rows) for rows in (3, 1, 5, 2, 4) * 4]
    results = pipelined.predict_many(MODEL, ({"features": batch} for batch in batches))
    for batch, (version, outputs) in zip(batches, results, strict=True):
        assert version == 1
        assert_close(outputs["probability"], reference(batch))


def mixed_inputs(features) -> list:
    """Ten inputs; items 3 and 7 are refused by the server (a wrong shape, an unknown input)."""
    inputs = [{"features": features(1)} for _ in range(10)]
    inputs[3] = {"features": features(1)[:, :3]}
    inputs[7] = {"features": features(1), "extra": np.zeros((1, 1), dtype=np.float32)}
    return inputs


def test_with_return_exceptions_each_failed_item_holds_its_error(pipelined, features):
    results = pipelined.predict_many(MODEL, mixed_inputs(features), return_exceptions=True)
    failed = {index: result for index, result in enumerate(results) if isinstance(result, ZServeError)}
    assert sorted(failed) == [3, 7]
    assert {error.code_name for error in failed.values()} == {"INVALID_ARGUMENT"}
    assert "shape" in failed[3].message and "extra" in failed[7].message
    assert all(result[0] == 1 for index, result in enumerate(results) if index not in failed)


def test_by_default_the_earliest_failed_item_is_raised_and_the_client_stays_clean(pipelined, features):
    with pytest.raises(ZServeError) as raised:
        pipelined.predict_many(MODEL, mixed_inputs(features), max_in_flight=10)
    assert raised.value.code_name == "INVALID_ARGUMENT" and "shape" in raised.value.message
    # Every reply of the failed call was read or is discarded: the next calls see only their own.
    assert [version for version, _ in pipelined.predict_many(MODEL, [{"features": features(1)}] * 5)] == [1] * 5
    request_id = pipelined.send_predict(MODEL, {"features": features(2)}, request_id="after")
    assert pipelined.receive()[0] == request_id == "after"


def test_an_input_the_protocol_cannot_carry_fails_that_item_only(pipelined, features):
    inputs = [{"features": features(1)}, {"features": np.zeros((1, 8), dtype=np.complex64)}, {"features": features(1)}]
    results = pipelined.predict_many(MODEL, inputs, return_exceptions=True)
    assert results[1].code_name == "INVALID_ARGUMENT" and [results[0][0], results[2][0]] == [1, 1]


def numbered(count: int) -> list:
    """Inputs whose first value is their index: the stand-in server answers with it as the version."""
    return [{"features": np.full((1, 8), index, dtype=np.float32)} for index in range(count)]


def test_keeps_max_in_flight_outstanding_and_matches_replies_in_any_order():
    # The stand-in answers (in reverse order) only once requests stop coming, or at a 9th unanswered one.
    with StandInServer(window=9) as stand_in, PipelinedClient(stand_in.endpoint, timeout_ms=5_000) as client:
        results = client.predict_many(MODEL, numbered(24), max_in_flight=8)
    assert [version for version, _ in results] == list(range(24))
    assert stand_in.most_unanswered == 8


def test_no_reply_raises_zserve_timeout():
    with StandInServer(window=100, answer=False) as silent, PipelinedClient(silent.endpoint, timeout_ms=200) as client:
        with pytest.raises(ZServeTimeout) as raised:
            client.predict_many(MODEL, numbered(3))
        assert raised.value.code_name == "DEADLINE_EXCEEDED" and isinstance(raised.value, TimeoutError)
