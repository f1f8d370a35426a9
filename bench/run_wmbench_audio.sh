#!/usr/bin/env bash
# Run the shared wmbench audio harness on sl-aud-1 (bench/wmbench_audio_adapter.py), next to
# the anchor tools' rows copied from the reference run, into bench/results/wmbench_audio.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(dirname "$HERE")"
WMBENCH="${WMBENCH:-$ROOT/../shared/wmbench}"  # the shared harness beside the checkout
OUT="$HERE/results/wmbench_audio"
mkdir -p "$OUT"
rm -f "$OUT"/audio_raw.csv "$OUT"/audio_quality.csv
for f in audio_raw.csv audio_quality.csv; do
  cat "$WMBENCH/results/$f" > "$OUT/$f"  # a writable copy: the harness appends
done
cd "$WMBENCH"
OMP_NUM_THREADS=1 WMBENCH_VENV="${WMBENCH_VENV:-$ROOT/.wmbench-venv}" \
  PYTHONPATH="$ROOT/src:$HERE" \
  bash run.sh --out "$OUT" --phases audio summary --audio-tools none \
  --audio-adapter wmbench_audio_adapter:SynthlabelAudioWM "$@"
