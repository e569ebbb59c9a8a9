#!/usr/bin/env bash
# The side-by-side measurement of docs/performance.md: per round and configuration, the PyTorch
# mirror (forward, training step, peak RSS via /usr/bin/time) and then `covidnet bench` with the
# ONNX Runtime anchor (same process), both while holding /tmp/covidnet-cpu.lock (the machine's
# lock for timing runs), with the 1-minute load average. One JSON line per row on stdout.
#
#   COVIDNET_ONNXRUNTIME=/path/to/node_modules/onnxruntime-node scripts/bench-anchors.sh [rounds]
#
# Needs /usr/bin/python3 with PyTorch (Debian python3-torch) and the mirror at
# COVIDNET_PYTORCH_MIRROR (default ../shared/anchors/pytorch_covidnet.py).
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
mirror=${COVIDNET_PYTORCH_MIRROR:-../shared/anchors/pytorch_covidnet.py}
threads=${THREADS:-2}
configs=("single 112 32 256 16" "siamese 112 32 256 16" "single 224 128 1024 8")
rss=$(mktemp)
trap 'rm -f "$rss"' EXIT
for round in $(seq 1 "$rounds"); do
  for c in "${configs[@]}"; do
    read -r model size width fc batch <<<"$c"
    exec 9>/tmp/covidnet-cpu.lock
    flock 9
    load=$(cut -d' ' -f1 /proc/loadavg)
    pt=$(/usr/bin/time -f '%M' -o "$rss" /usr/bin/python3 "$mirror" --model "$model" --size "$size" --width "$width" --fc "$fc" --batch "$batch" --threads "$threads")
    cv=$(node bin/covidnet.js bench --model "$model" --size "$size" --width "$width" --fc "$fc" --batch "$batch" --threads "$threads" --anchor onnxruntime --json)
    load2=$(cut -d' ' -f1 /proc/loadavg)
    flock -u 9
    exec 9>&-
    echo "{\"round\":$round,\"load_before\":$load,\"load_after\":$load2,\"pytorch\":$pt,\"pytorch_peak_rss_mb\":$(( $(cat "$rss") / 1024 )),\"covidnet\":$cv}"
  done
done
