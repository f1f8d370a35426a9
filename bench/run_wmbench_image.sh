#!/usr/bin/env bash
# Runs the wmbench image robustness + timing phases on sl-img-1 (bench/wmbench_image_adapter.py)
# and writes the tables to bench/results/wmbench, next to the anchor tools' rows (their CSVs are
# copied from the reference run first, so the summary compares them in the same tables).
# Needs the shared harness at /work/shared/wmbench and its venv (WMBENCH_VENV).
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
WMBENCH="${WMBENCH:-$ROOT/../shared/wmbench}"  # the shared harness beside the checkout
VENV="${WMBENCH_VENV:-$ROOT/.wmbench-venv}"  # run.sh creates it on first use
OUT="$ROOT/bench/results/wmbench"
mkdir -p "$OUT"
# anchors: the reference run's image tables (our rows are appended to them)
for f in image_raw.csv image_quality.csv image_timing.csv availability.csv; do
  if [ -f "$WMBENCH/results/$f" ]; then
    # drop earlier rows of our own tool so reruns do not accumulate
    grep -v '^synthlabel_sl-img-1,' "$WMBENCH/results/$f" > "$OUT/$f" || true
  fi
done
cd "$WMBENCH"
export OMP_NUM_THREADS=1
WMBENCH_VENV="$VENV" PYTHONPATH="$ROOT/src:$ROOT/bench" bash run.sh --out "$OUT" \
  --phases image timing summary --image-tools none \
  --image-adapter wmbench_image_adapter:SynthlabelImageWM "$@"
# the full raw table is mostly the anchors' copied rows (~650 KB, git-ignored): keep ours apart
{ head -1 "$OUT/image_raw.csv"; grep '^synthlabel_sl-img-1,' "$OUT/image_raw.csv"; } \
  > "$OUT/image_raw_sl-img-1.csv"
