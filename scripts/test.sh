#!/usr/bin/env bash
# The whole test suite, from a fresh clone: set-up, fixtures (onnx.helper models + onnxruntime references),
# Swift unit and end-to-end tests, then the Python and C clients (and the Python client's own suite) against the real
# zserve binary.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

scripts/setup.sh
echo "== fixtures: onnx.helper models with onnxruntime references" >&2
.venv/bin/python scripts/make_test_models.py --out .fixtures
export ZSERVE_FIXTURES="$root/.fixtures"

echo "== swift build and tests" >&2
swift build --build-tests
swift test --skip-build
# OpenBLAS picks its kernels by CPU: run the numeric suites again with the kernels a machine without AVX-512 gets,
# so a tolerance tighter than float32 allows fails here rather than on someone else's machine.
OPENBLAS_CORETYPE=Haswell swift test --skip-build --filter 'InferenceTests|BatchingTests'

echo "== fuzzers: each target briefly on its committed corpus (docs/fuzzing.md runs them long)" >&2
scripts/fuzz.sh check 15

echo "== Python and C clients against the zserve binary" >&2
export ZSERVE_BIN="$root/.build/debug/zserve"
# Clients/python/tests is the Python client's own suite (it imports the package installed from a copy of the clone,
# and pip-installs it into a fresh venv once).
.venv/bin/python -m pytest -q Tests/python Clients/python/tests
