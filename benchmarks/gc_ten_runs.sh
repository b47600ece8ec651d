#!/usr/bin/env bash
# What `retrain gc --dry-run` would free after ten weekly-style runs on the demo corpus (default
# recipe, 2 epochs, seeds 1-10) in a fresh home, and what it keeps and why.
# Usage: bash benchmarks/gc_ten_runs.sh [HOME_FOLDER]   (run from the repository root)
set -euo pipefail
export RETRAIN_HOME="${1:-$(mktemp -d)/home}"
# A busy machine can be slow to start Prefect's temporary API.
export PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="${PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS:-180}"
unset MLFLOW_TRACKING_URI PREFECT_API_URL
for seed in $(seq 1 10); do
  .venv/bin/retrain run --epochs 2 --seed "$seed" --json >"$RETRAIN_HOME.run-$seed.json" 2>/dev/null
done
.venv/bin/retrain models list
.venv/bin/retrain gc --dry-run --older-than-days 0 --versions-older-than-days 0 --json |
  .venv/bin/python -c '
import json, sys
from collections import Counter
plan = json.load(sys.stdin)
for side in ("remove", "keep"):
    count, size = Counter(), Counter()
    for item in plan[side]:
        count[item["kind"]] += 1
        size[item["kind"]] += item["bytes"]
    print(f"{side}: {sum(size.values()):,} bytes in {sum(count.values())} items")
    for kind in sorted(count):
        print(f"  {kind}: {count[kind]}, {size[kind]:,} bytes")
    if side == "keep":
        for item in plan[side]:
            print("  kept", item["name"] + ":", item["reason"])
'
