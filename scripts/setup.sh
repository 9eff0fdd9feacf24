#!/usr/bin/env bash
# Installs everything ZServe builds and tests with; safe to run again (each step is skipped when already done).
#   - Debian packages: libzmq, OpenBLAS, protobuf-c (C client), protoc (scripts/generate-protos.sh), liblzma (the
#     trainer's log), prometheus (the metrics test scrapes a live server with it), tmux (`zserve top` is tested as a
#     person sees it), gcc (the C client's tests and the allocation test's malloc counter are compiled with `cc`)
#   - a Python venv at .venv with onnx, onnxruntime, pyzmq, protobuf, numpy, pytest (test fixtures and peers) and
#     grpcio-tools (Clients/python/generate.sh's protoc)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)

packages=(libzmq3-dev libopenblas-dev libprotobuf-c-dev protobuf-compiler protobuf-c-compiler pkg-config liblzma-dev prometheus tmux gcc)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  echo "setup: installing ${missing[*]}" >&2
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${missing[@]}" >/dev/null
fi

venv="$root/.venv"
requirements="$root/scripts/requirements.txt"
stamp="$venv/.requirements.sha256"
want=$(sha256sum "$requirements" | cut -d' ' -f1)
if [ ! -x "$venv/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "setup: preparing Python venv at .venv" >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q -r "$requirements"
  echo "$want" > "$stamp"
fi
