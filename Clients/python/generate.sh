#!/usr/bin/env bash
# Regenerates the committed Python protobuf modules for Protos/zserve/v1 (package zserve.v1): zserve/v1/*_pb2.py and
# their type stubs *_pb2.pyi. Run it after editing Protos/; Clients/python/tests checks the committed modules equal
# its output.
#
# Usage: generate.sh [OUT_DIR]   (default: Clients/python; the modules go to OUT_DIR/zserve/v1)
#
# The protoc is the one bundled with grpcio-tools at the version pinned in scripts/requirements.txt (protobuf 7.x
# gencode, which needs the runtime range that pyproject.toml declares). $PYTHON names an interpreter that has it
# (default: the repository's .venv from scripts/setup.sh, else python3). Files are generated into a scratch folder
# and renamed into place, so a concurrent reader never sees half a file.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out="${1:-$here}/zserve/v1"
python=${PYTHON:-}
if [ -z "$python" ]; then
  if [ -x "$root/.venv/bin/python" ]; then python="$root/.venv/bin/python"; else python=python3; fi
fi

pinned=$(sed -n 's/^grpcio-tools==//p' "$root/scripts/requirements.txt")
installed=$("$python" -c 'import importlib.metadata as m; print(m.version("grpcio-tools"))' 2>/dev/null || true)
if [ -z "$pinned" ] || [ "$installed" != "$pinned" ]; then
  echo "generate.sh: needs grpcio-tools==${pinned:-?} (scripts/requirements.txt) in $python, found '${installed:-none}';" \
       "run scripts/setup.sh or set PYTHON" >&2
  exit 1
fi

mkdir -p "$out"
scratch=$(mktemp -d "$out/.generate.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
(cd "$root/Protos" && "$python" -m grpc_tools.protoc --proto_path=. --python_out="$scratch" --pyi_out="$scratch" \
  zserve/v1/*.proto)
mv -f "$scratch"/zserve/v1/*_pb2.py "$scratch"/zserve/v1/*_pb2.pyi "$out"/
