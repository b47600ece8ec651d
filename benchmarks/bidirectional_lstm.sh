#!/usr/bin/env bash
# The strong LSTM with a bidirectional layer and 3 epochs, timed beside the tutorial script and the
# strong preset in one run: bash benchmarks/bidirectional_lstm.sh (full IMDB in ../shared; about 25 min
# on 2 idle cores). One line per run: accuracy, the baseline beside it, wall and CPU seconds, load.
set -u
cd "$(dirname "$0")/.."
DATA=$(realpath ../shared/datasets/imdb/reviews.parquet)
echo "start $(date -Is) load $(cut -d' ' -f1-3 /proc/loadavg)"
.venv/bin/python -c "
import sys; sys.path.insert(0, 'benchmarks')
from rnn_retrain.quiet import prepare_environment; prepare_environment()
from pipeline import plain_script
s, a = plain_script('$DATA', 'lstm', 10)
print(f'script lstm accuracy {a:.4f} wall {s:.0f}')
"
run() {
  local label=$1; shift
  local home; home=$(mktemp -d)
  local t0; t0=$(date +%s.%N)
  HOME=$home RETRAIN_HOME=$home /usr/bin/time -f "cpu %U+%S" .venv/bin/retrain run --data "$DATA" --recipe strong --cell lstm "$@" > $home.out 2> $home.err
  local rc=$?
  local t1; t1=$(date +%s.%N)
  local acc; acc=$(grep -m1 "│ accuracy" $home.out | awk -F'│' '{gsub(/ /,"",$3); print $3}')
  local base; base=$(grep -o "baseline: .*accuracy [0-9.]*" $home.out | grep -o "[0-9.]*$")
  echo "$label $* rc=$rc accuracy $acc baseline $base wall $(echo "$t1 - $t0" | bc) $(tail -1 $home.err) load $(cut -d' ' -f1-3 /proc/loadavg)"
  rm -rf "$home"
}
run strong --seed 1337
for s in 1337 1338 1339; do run strong+bi3 --bidirectional --epochs 3 --seed $s; done
echo "end $(date -Is)"
