#!/usr/bin/env bash
# Builds ZServe (release), serves the bundled example repository on tcp://127.0.0.1:7070 and shows one prediction
# from the example purchase-propensity model; then keeps serving until Ctrl-C.
#   ZSERVE_LISTEN=tcp://0.0.0.0:7070 scripts/run.sh   to listen elsewhere
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

scripts/setup.sh
swift build -c release --product zserve
bin="$root/.build/release/zserve"
listen=${ZSERVE_LISTEN:-tcp://127.0.0.1:7070}

ready=$(mktemp)
"$bin" serve --model-repository Examples/model-repository --listen "$listen" > "$ready" &
server=$!
trap 'kill -TERM $server 2>/dev/null; wait $server 2>/dev/null; rm -f "$ready"' EXIT INT TERM
for _ in $(seq 100); do
  [ -s "$ready" ] && break
  kill -0 $server 2>/dev/null || { echo "zserve exited before it was ready" >&2; exit 1; }
  sleep 0.1
done
endpoint=$(sed -n 's/.*"listen":"\([^"]*\)".*/\1/p' "$ready")
echo "serving Examples/model-repository on $endpoint" >&2
echo "\$ zserve predict --endpoint $endpoint --model purchase_propensity --json @Examples/requests/purchase_propensity.json" >&2
"$bin" predict --endpoint "$endpoint" --model purchase_propensity --json @Examples/requests/purchase_propensity.json
echo "(Ctrl-C stops the server)" >&2
wait $server
