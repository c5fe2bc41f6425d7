#!/usr/bin/env bash
# Prints the README's speed table: actswap / onnxruntime latency ratio for every shared model,
# onnxruntime timed in-process through its C API (the actswap-ort harness), the same real inputs
# (each model's test_data_set_0) and the same intra-op thread count on both sides, alternating
# rounds, median and range over the rounds. The header names the CPU and the measured FMA peak,
# so figures from different machines are never mixed.
#
#   bash tools/ratios.sh [THREADS...]        # default: 1 2; ROUNDS=5 by default
#   MODELS_DIR=DIR MODELS="mobilenetv3_like convnext_like efficientnet_like" bash tools/ratios.sh   # models of
#                                            # tools/heldback/make.py DIR
#
# Needs cgo (for the harness), onnxruntime (.ci/install-ort.sh) and ../shared/models.
set -euo pipefail
cd "$(dirname "$0")/.."
threads=("$@"); [ ${#threads[@]} -gt 0 ] || threads=(1 2)
rounds=${ROUNDS:-5}
models=${MODELS:-"resnet18 vit_tiny digits_cnn digits_vit digits_mlp_gelu"}
bin=$(mktemp -d); trap 'rm -rf "$bin"' EXIT
go build -o "$bin/actswap" ./cmd/actswap
go build -o "$bin/actswap-ort" ./cmd/actswap-ort
out=$(mktemp -d "$bin/json.XXXX")
for t in "${threads[@]}"; do
  for m in $models; do
    dir=${MODELS_DIR:-../shared/models}/$m
    iters=200; case $m in resnet18|vit_tiny|convnext_like) iters=20;; esac
    "$bin/actswap" bench "$dir/model.onnx" --data "$dir/test_data_set_0" --ort --threads "$t" \
      --rounds "$rounds" --iters "$iters" --json > "$out/$m.$t.json"
  done
done
python3 - "$out" "$models" "${threads[@]}" <<'PY'
import json, sys, os
out, models, threads = sys.argv[1], sys.argv[2].split(), sys.argv[3:]
first = json.load(open(os.path.join(out, f"{models[0]}.{threads[0]}.json")))
mach = first["machine"]
print(f"CPU: {mach['cpu']}, {mach['cores']} cores, FMA peak {mach['fma_peak']['gflops']:.0f} GFLOP/s "
      f"({mach['fma_peak']['vector_bits']}-bit); onnxruntime {first.get('onnxruntime_version', '?')} in-process\n")
print("| model | " + " | ".join(f"{t} thread{'s' if t != '1' else ''}: median (range)" for t in threads) + " |")
print("|---|" + "---|" * len(threads))
for m in models:
    cells = []
    for t in threads:
        r = json.load(open(os.path.join(out, f"{m}.{t}.json")))["in_process"]
        cells.append(f"{r['median_ratio']:.2f} ({min(r['ratios']):.2f}–{max(r['ratios']):.2f})")
    print(f"| {m} | " + " | ".join(cells) + " |")
PY
