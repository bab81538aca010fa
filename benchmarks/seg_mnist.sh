#!/usr/bin/env bash
# Weakly-supervised segmentation on labelled Moving MNIST (paper 5.2, Table 2 layout), as in
# docs/results/segmentation.md: a small AE-ConvLSTM-flow trained without labels, then
# SegNet-flow from it (joint, and with the flow detached) and the per-frame SegNet with the
# same labels, batches and steps; then one evaluation of the three.
#
#   benchmarks/seg_mnist.sh RUNS RESULTS_PREFIX [AE_STEPS] [SEG_STEPS]
#
# RUNS: run folders (keep it outside the work tree). RESULTS_PREFIX: e.g.
# docs/results/segmentation_v2 (writes PREFIX.json, PREFIX_figure8.png,
# PREFIX_consistency.png). AE_STEPS (824) and SEG_STEPS (2261): the step budgets of the
# unlabelled AE and of every segmenter, those the 10-minute runs of 2026-11-26 reached on an
# idle 2-core CPU (a step budget gives the same result on a loaded machine).
set -euo pipefail
runs=$1 prefix=$2 ae_steps=${3:-824} steps=${4:-2261}
vstm=${VSTM:-vstm}
mkdir -p "$runs"
step_of() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['trainer']['step'])" "$1/last.json"; }
# todo DIR N: "run" (no run yet), "resume" (interrupted before N steps) or "" (done)
todo() { [ -f "$1/last.json" ] || { echo run; return; }; [ "$(step_of "$1")" -ge "$2" ] || echo resume; }

# 1. the flow model, no labels
case $(todo "$runs/ae-pre" "$ae_steps") in
resume) $vstm train --resume "$runs/ae-pre" --steps "$ae_steps" ;;
run)
  $vstm train --binarize --model-option enc_kernel=5 --model-option hidden_channels=16 \
    --model-option lstm_kernel=3 --model-option flow_kernel=7 --model-option dec_kernel=5 \
    --optimizer adam --lr 1e-3 --flow-lr-scale 0.1 --batch-size 16 --context 10 \
    --steps "$ae_steps" --out "$runs/ae-pre" ;;
esac
# 2a. SegNet-flow, joint: the segmentation loss also trains the flow, Θ at 0.03 x lr
case $(todo "$runs/segnet-flow-pre" "$steps") in
resume) $vstm segment train --resume "$runs/segnet-flow-pre" --steps "$steps" --threads 2 ;;
run)
  $vstm segment train --model segnet-flow --init-ae "$runs/ae-pre/last.safetensors" \
    --flow-lr-scale 0.03 --threads 2 --steps "$steps" --out "$runs/segnet-flow-pre"
  ;;
esac
# 2b. SegNet-flow, flow detached from the segmentation loss, Θ at 0.01 x lr
case $(todo "$runs/segnet-flow-pre-detach" "$steps") in
resume) $vstm segment train --resume "$runs/segnet-flow-pre-detach" --steps "$steps" --threads 2 ;;
run)
  $vstm segment train --model segnet-flow --init-ae "$runs/ae-pre/last.safetensors" \
    --flow-lr-scale 0.01 --model-option detach_flow=true --threads 2 --steps "$steps" \
    --out "$runs/segnet-flow-pre-detach"
  ;;
esac
# 3. the per-frame SegNet, same labels, batches and steps
case $(todo "$runs/segnet" "$steps") in
resume) $vstm segment train --resume "$runs/segnet" --steps "$steps" --threads 2 ;;
run)
  $vstm segment train --model segnet --threads 2 --steps "$steps" --out "$runs/segnet"
  ;;
esac
$vstm segment eval --checkpoint "$runs/segnet/best.safetensors" \
  --checkpoint "$runs/segnet-flow-pre/best.safetensors" \
  --checkpoint "$runs/segnet-flow-pre-detach/best.safetensors" --num 256 --threads 2 \
  --json "$prefix.json" --figure "${prefix}_figure8.png" \
  --consistency "${prefix}_consistency.png"
echo "AE steps: $(step_of "$runs/ae-pre"), segmenter steps: $steps"
