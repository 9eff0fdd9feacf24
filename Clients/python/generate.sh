#!/usr/bin/env bash
# Generates the Python protobuf modules for Protos/zserve/v1 (package zserve.v1) into Clients/python/zserve/,
# which git ignores. Uses $PROTOC, else the protoc on PATH (3.21's output loads under the pinned protobuf runtime).
# Files are generated into a scratch folder and renamed into place, so a concurrent reader never sees half a file.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out="$here/zserve/v1"
scratch=$(mktemp -d "$here/.generate.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
(cd "$here/../../Protos" && "${PROTOC:-protoc}" --python_out="$scratch" zserve/v1/*.proto)
mkdir -p "$out"
mv -f "$scratch"/zserve/v1/*_pb2.py "$out"/
