#!/usr/bin/env bash
# Weakly-supervised segmentation on labelled Moving MNIST (paper 5.2, Table 2 layout), as in
# docs/results/segmentation.md: a small AE-ConvLSTM-flow trained without labels, then
# SegNet-flow from it (joint, and with the flow detached) and the per-frame SegNet with the
# same labels, batches and steps; then one evaluation of the three.
#
#   benchmarks/seg_mnist.sh RUNS RESULTS_PREFIX [MINUTES]
#
# RUNS: run folders (resumable; keep it outside the work tree). RESULTS_PREFIX: e.g.
# docs/results/segmentation_v2 (writes PREFIX.json, PREFIX_figure8.png,
# PREFIX_consistency.png). MINUTES: wall-clock budget of the AE and of SegNet-flow (10).
set -euo pipefail
runs=$1 prefix=$2 minutes=${3:-10}
vstm=${VSTM:-vstm}
mkdir -p "$runs"
step_of() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['trainer']['step'])" "$1/last.json"; }

# 1. the flow model, no labels
if [ ! -f "$runs/ae-pre/last.json" ]; then
  $vstm train --binarize --model-option enc_kernel=5 --model-option hidden_channels=16 \
    --model-option lstm_kernel=3 --model-option flow_kernel=7 --model-option dec_kernel=5 \
    --optimizer adam --lr 1e-3 --flow-lr-scale 0.1 --batch-size 16 --context 10 \
    --max-minutes "$minutes" --out "$runs/ae-pre"
fi
# 2a. SegNet-flow, joint: the segmentation loss also trains the flow, Θ at 0.03 x lr
if [ ! -f "$runs/segnet-flow-pre/last.json" ]; then
  $vstm segment train --model segnet-flow --init-ae "$runs/ae-pre/last.safetensors" \
    --flow-lr-scale 0.03 --threads 2 --max-minutes "$minutes" --steps 5000 \
    --out "$runs/segnet-flow-pre"
fi
steps=$(step_of "$runs/segnet-flow-pre")
# 2b. SegNet-flow, flow detached from the segmentation loss, Θ at 0.01 x lr; same steps
if [ ! -f "$runs/segnet-flow-pre-detach/last.json" ]; then
  $vstm segment train --model segnet-flow --init-ae "$runs/ae-pre/last.safetensors" \
    --flow-lr-scale 0.01 --model-option detach_flow=true --threads 2 --steps "$steps" \
    --out "$runs/segnet-flow-pre-detach"
fi
# 3. the per-frame SegNet, same labels, batches and steps
if [ ! -f "$runs/segnet/last.json" ]; then
  $vstm segment train --model segnet --threads 2 --steps "$steps" --out "$runs/segnet"
fi
$vstm segment eval --checkpoint "$runs/segnet/best.safetensors" \
  --checkpoint "$runs/segnet-flow-pre/best.safetensors" \
  --checkpoint "$runs/segnet-flow-pre-detach/best.safetensors" --num 256 --threads 2 \
  --json "$prefix.json" --figure "${prefix}_figure8.png" \
  --consistency "${prefix}_consistency.png"
echo "steps: $steps"
