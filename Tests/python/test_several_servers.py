"""State changes for several servers at once: `zserve push|label|rollback|... --endpoint A --endpoint B` goes to each
server over a connection of its own (one client over both endpoints would hand each call, and each chunk of a push,
to one of them), and a push lands as the same version everywhere, so workers serving both servers fetch the file
once and both servers route the same version number."""

import hashlib
import json

from zserve_client import Client
from test_hot_swap import MODEL, X, ctr_mlp, reference, serve, write_version, zserve, zserve_json

import numpy as np


def test_a_push_to_two_servers_lands_as_the_same_version_on_each(tmp_path):
    # The servers' histories differ: the first has versions 1 and 2 on disk, the second only 1.
    first, second = tmp_path / "first", tmp_path / "second"
    write_version(first, 1, ctr_mlp(seed=1))
    write_version(first, 2, ctr_mlp(seed=2))
    write_version(second, 1, ctr_mlp(seed=1))
    # The first keeps two versions available, so version 2 still serves there after the push.
    (first / MODEL / "config.json").write_text(json.dumps({"version_policy": {"latest": 2}}))
    new = ctr_mlp(seed=7)
    path = tmp_path / "new.onnx"
    path.write_bytes(new)
    with serve(first) as a, serve(second) as b:
        printed = zserve_json("push", "--endpoint", a.admin, "--endpoint", b.admin, "--model", MODEL, str(path),
                              "--chunk-size", "1024")
        digest = hashlib.sha256(new).hexdigest()
        expected = {"model": MODEL, "version": 3, "state": "AVAILABLE", "bytes": len(new), "sha256": digest}
        assert printed == {a.admin: expected, b.admin: expected}, printed
        for server in (a, b):
            with Client(server.listen, timeout_ms=10_000) as client:
                version, outputs = client.predict(MODEL, {"x": X})
            assert version == 3
            np.testing.assert_allclose(outputs["probability"], reference(new), rtol=1e-4, atol=1e-6)

        # A label goes to both; a refusal on one is reported under its endpoint and the command fails.
        labelled = zserve_json("label", "--endpoint", a.admin, "--endpoint", b.admin, "--model", MODEL,
                               "--label", "stable", "--version", "3")
        assert set(labelled) == {a.admin, b.admin}
        refused = zserve("label", "--endpoint", a.admin, "--endpoint", b.admin, "--model", MODEL,
                         "--label", "old", "--version", "2")
        assert refused.returncode == 1
        outcome = json.loads(refused.stdout)
        assert "error" not in outcome[a.admin], "version 2 is available on the first server"
        assert outcome[b.admin]["error"].startswith(("FAILED_PRECONDITION", "NOT_FOUND")), outcome
