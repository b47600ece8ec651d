#!/usr/bin/env bash
# Screenshot the Prefect UI's "Custom run" form of both served deployments in headless Chromium,
# to check that every RetrainConfig section is drawn, titled, with each field's description and default.
#
#   bash tests/e2e/run_form_screenshot.sh [OUTPUT_DIR]      (needs Debian's `chromium` package)
#
# It starts a Prefect server and `retrain serve` in a temporary home on a free port, and stops
# both when it ends. The PNGs (the deployments list with its schedule, and each run form) go to
# OUTPUT_DIR (default: ./run-form-screenshots).
set -euo pipefail
set -m  # Background jobs get process groups of their own, so cleanup stops their children too.
cd "$(dirname "$0")/../.."
out=$(realpath -m "${1:-run-form-screenshots}")
mkdir -p "$out"
work=$(mktemp -d)
port=$(.venv/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export PREFECT_HOME=$work/prefect RETRAIN_HOME=$work/home PREFECT_SERVER_ANALYTICS_ENABLED=false
export PREFECT_API_URL=http://127.0.0.1:$port/api PREFECT_UI_API_URL=http://127.0.0.1:$port/api
pids=()
cleanup() {
  # Newest first: `retrain serve` pauses its deployments on the server as it shuts down.
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
    kill -- "-${pids[i]}" 2>/dev/null || true
    for _ in $(seq 1 30); do kill -0 "${pids[i]}" 2>/dev/null || break; sleep 1; done
    kill -9 -- "-${pids[i]}" 2>/dev/null || true
  done
  rm -rf "$work"
}
trap cleanup EXIT

.venv/bin/prefect server start --host 127.0.0.1 --port "$port" >"$work/server.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 90); do curl -sf "$PREFECT_API_URL/health" >/dev/null && break; sleep 2; done
.venv/bin/retrain serve >"$work/serve.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 90); do
  ids=$(curl -s -X POST "$PREFECT_API_URL/deployments/filter" -H 'Content-Type: application/json' -d '{}' \
    | .venv/bin/python -c 'import json,sys; print(" ".join(d["name"] + "=" + d["id"] for d in json.load(sys.stdin)))')
  [[ $ids == *weekly-retrain* && $ids == *manual-retrain* ]] && break
  sleep 2
done
shoot() {  # shoot NAME HEIGHT PATH
  chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --user-data-dir="$work/chrome-$1" --window-size="1400,$2" --virtual-time-budget=20000 \
    --screenshot="$out/$1.png" "http://127.0.0.1:$port$3" 2>/dev/null
  echo "wrote $out/$1.png"
}
shoot deployments 900 /deployments
for pair in $ids; do
  name=${pair%%=*} id=${pair#*=}
  shoot "$name" 1200 "/deployments/deployment/$id"
  shoot "$name-run-form" 6400 "/deployments/deployment/$id/run"
done
