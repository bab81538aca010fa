"""``vstm reproduce``: the command line of the paper's reproduced results.

One nested sub-command per result; each translates its flags into the settings dataclass of
an experiment in :mod:`vstm.experiments` and prints what it wrote:

- ``vstm reproduce table1``: :func:`vstm.experiments.table1.run_table1` (Table 1, Figure 5);
- ``vstm reproduce warpcheck``: :func:`vstm.experiments.warp_check.write_warp_check`
  (section 5, Figure 2);
- ``vstm reproduce figure6``: :func:`vstm.experiments.figure6.run_figure6` (Figure 6).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from vstm.cli.argtypes import nonnegative_int, positive_float, positive_int
from vstm.errors import VstmError
from vstm.experiments.table1 import (
    DEFAULT_EPOCHS,
    DEFAULT_TEST_SEQUENCES,
    MODELS,
    RECIPES,
    Table1Settings,
    run_table1,
)

__all__ = ["add_arguments", "run"]

_TABLE1 = Table1Settings(out="")  # the defaults of the table1 flags


# --------------------------------------------------------------------------- command line
def add_arguments(p: argparse.ArgumentParser) -> None:
    """``vstm reproduce TABLE``: one nested sub-command per reproduced result."""
    sub = p.add_subparsers(dest="table", metavar="TABLE", required=True)
    t = sub.add_parser(
        "table1",
        help="Table 1: four architectures on binarised Moving MNIST, plus classical rows",
        description=(
            "Train AE-Conv, AE-fcLSTM, AE-ConvLSTM and AE-ConvLSTM-flow under one protocol "
            "and score them, with copy-last, DIS and Farnebäck, on one fixed test set. "
            "Resumable: run it again to continue."
        ),
    )
    add_table1_arguments(t)
    w = sub.add_parser(
        "warpcheck",
        help="section 5 / Figure 2: warp a real image by its true displacement",
        description=(
            "The paper's warp sanity check on a rectified stereo pair: reconstruct the left "
            "view by warping the right one with vstm.warp and the left view's ground-truth "
            "disparity; report the mean absolute error on valid pixels beside the no-warp "
            "error and write warp_check.{png,json,md}. The Middlebury Aloe pair comes with "
            "'vstm data fetch opencv-samples DIR' (aloeL.jpg, aloeR.jpg, aloeGT.png)."
        ),
    )
    add_warpcheck_arguments(w)
    f = sub.add_parser(
        "figure6",
        help="Figure 6: next frame and flow on held-out real video, with numbers",
        description=(
            "Train AE-ConvLSTM-flow with MSE on a folder of videos, leaving out the last "
            "--holdout of every video (resumable: OUT/run), or take --checkpoint; then write "
            "figure6.png in the paper's layout and a table (MSE, PSNR, SSIM, movers AUC) of "
            "the model, copy-last-frame and OpenCV DIS / Farnebäck on the held-out frames."
        ),
    )
    add_figure6_arguments(f)


def add_figure6_arguments(p: argparse.ArgumentParser) -> None:
    a = p.add_argument
    a("--data", required=True, help="a video file or a folder of videos or frames")
    a("--out", required=True, help="results folder (the training run goes to OUT/run)")
    a("--checkpoint", help="evaluate this checkpoint instead of training one")
    a(
        "--holdout",
        type=positive_float,
        default=0.2,
        help="last fraction of every video held out (0.2)",
    )
    a(
        "--context",
        type=positive_int,
        default=12,
        help="frames fed before the scored one (paper: 12)",
    )
    a("--size", type=positive_int, default=96, help="frame side after a centre crop (default 96)")
    a(
        "--channels",
        type=positive_int,
        choices=(1, 3),
        default=3,
        help="1 grey or 3 colour (default 3)",
    )
    a("--frame-step", type=positive_int, default=2, help="take every N-th frame (default 2)")
    a(
        "--frame-cache",
        metavar="DIR",
        default="auto",
        help="decode each video once into DIR (default 'auto': $VSTM_CACHE_DIR or "
        "~/.cache/vstm/frames; 'none': decode per clip)",
    )
    a(
        "--minutes",
        type=positive_float,
        default=30.0,
        help="training budget in minutes (default 30)",
    )
    a(
        "--steps",
        type=positive_int,
        help="training budget in optimiser steps (instead of --minutes)",
    )
    a("--batch-size", type=positive_int, default=8, help="training batch (default 8)")
    a("--seed", type=nonnegative_int, default=0)
    a("--device", default="auto", help="auto, cpu, cuda, cuda:N")
    a(
        "--workers",
        type=nonnegative_int,
        default=0,
        help="data-loading worker processes (default 0)",
    )
    a("--figure-clips", type=positive_int, default=4, help="rows of figure6.png (default 4)")
    a("--max-test-clips", type=positive_int, help="score at most this many held-out clips")
    a(
        "--test-stride",
        type=positive_int,
        default=1,
        help="held-out clips start every N frames (default 1: every held-out frame past the "
        "first context frames of a video is scored once)",
    )
    a(
        "--model",
        default="ae-convlstm-flow",
        help="model to train when no --checkpoint is given (default ae-convlstm-flow)",
    )
    a("--threads", type=positive_int, help="torch CPU threads")
    a("--tiny", action="store_true", help="debug preset for tests (tiny model, 32x32, 2 steps)")
    a(
        "--baselines-only",
        action="store_true",
        help="no model: score copy-last, DIS and Farnebäck only (figure: DIS)",
    )


def _run_figure6(args: argparse.Namespace) -> int:
    """``vstm reproduce figure6``: Figure 6 and its table on held-out real video."""
    from vstm.experiments.figure6 import ROWS, Figure6Settings
    from vstm.experiments.figure6 import run_figure6 as run

    if args.threads:
        torch.set_num_threads(args.threads)
    names = [
        "checkpoint", "holdout", "context", "size", "channels", "frame_step", "frame_cache",
        "minutes", "steps", "batch_size", "seed", "device", "workers", "figure_clips",
        "max_test_clips", "tiny", "baselines_only", "test_stride", "model",
    ]  # fmt: skip
    settings = Figure6Settings(args.data, args.out, **{k: getattr(args, k) for k in names})
    parts = [f"vstm reproduce figure6 --data {args.data} --out {args.out}"]
    defaults = Figure6Settings("", "")
    for k in names:
        v = getattr(args, k)
        if v != getattr(defaults, k):
            flag = "--" + k.replace("_", "-")
            parts.append(flag if v is True else f"{flag} {v}")
    report = run(settings, " ".join(parts))
    labels = {**ROWS, "model": report.get("model") or ROWS["model"]}
    for key, row in report["table"].items():
        print(
            f"{labels.get(key, key):<52} MSE {row.get('mse', float('nan')):.5f}  "
            f"PSNR {row.get('psnr', float('nan')):6.2f}  SSIM {row.get('ssim', float('nan')):.4f}"
            f"  movers AUC {row.get('movers_auc', float('nan')):.3f}"
        )
    print(f"wrote {args.out}/figure6.png, figure6.json, figure6.md ({report['test_clips']} clips)")
    return 0


def add_warpcheck_arguments(p: argparse.ArgumentParser) -> None:
    a = p.add_argument
    a("--left", required=True, help="left view (the image to reconstruct)")
    a("--right", required=True, help="right view (the image that is warped)")
    a("--disparity", required=True, help="the left view's disparity image, 0 = unknown")
    a(
        "--disparity-scale",
        type=positive_float,
        default=1.0,
        help="stored value / this = disparity in pixels (Middlebury 2006: 1, the default)",
    )
    a("--out", required=True, help="folder for warp_check.png, .json and .md")


def _run_warpcheck(args: argparse.Namespace) -> int:
    """``vstm reproduce warpcheck``: the warp sanity check on a stereo pair."""
    from vstm.experiments.warp_check import write_warp_check

    command = (
        f"vstm reproduce warpcheck --left {args.left} --right {args.right} "
        f"--disparity {args.disparity} --out {args.out}"
    )
    if args.disparity_scale != 1.0:
        command += f" --disparity-scale {args.disparity_scale:g}"
    report = write_warp_check(
        args.left, args.right, args.disparity, args.out, args.disparity_scale, command
    )
    r = report["result"]
    print(
        f"warp error {r['error']:.4f} vs identity {r['identity_error']:.4f} on valid pixels "
        f"({100 * r['valid_fraction']:.1f}%); visible in both views {r['error_visible']:.4f} vs "
        f"{r['identity_error_visible']:.4f}; paper (Sintel) {report['paper_sintel_error']}"
    )
    print(f"wrote {args.out}/warp_check.png, warp_check.json, warp_check.md")
    return 0


def _add_scoring_arguments(a) -> None:
    """Table 1 without training: ``--score-only`` and ``--shipped``."""
    a(
        "--score-only",
        action="store_true",
        help="train nothing: score the runs already in OUT/runs/ as they are (each with the "
        "budget it received; the protocol must match, a continuation's task only)",
    )
    a(
        "--shipped",
        action="store_true",
        help="table1: train nothing; score the weights the package ships (written into "
        "OUT/runs/; with --recipe fast --precision fp32 this rescores "
        "docs/results/table1_shipped.md)",
    )


def add_table1_arguments(p: argparse.ArgumentParser) -> None:
    a, d = p.add_argument, _TABLE1
    a("--out", required=True, help="results folder (runs/<model>/ inside it)")
    a(
        "--models",
        default=",".join(d.models),
        help=f"comma-separated subset of {','.join(MODELS)} (default: all four)",
    )
    a(
        "--epochs",
        type=positive_int,
        help=f"epochs of 10,000 sequences per model (default {DEFAULT_EPOCHS} unless "
        "--budget-minutes is given)",
    )
    a(
        "--budget-minutes",
        type=positive_float,
        help="wall-clock training minutes per model (validation included)",
    )
    a(
        "--recipe",
        choices=sorted(RECIPES),
        default=d.recipe,
        help="optimiser recipe for all models: paper (RMSprop 1e-4) or fast (Adam 1e-3)",
    )
    a(
        "--batch-size",
        type=positive_int,
        default=d.batch_size,
        help=f"training batch (default {d.batch_size})",
    )
    a(
        "--seed",
        type=nonnegative_int,
        default=d.seed,
        help=f"seed of the training data and weights (default {d.seed})",
    )
    a("--device", default=d.device, help=f"auto, cpu, cuda, cuda:N (default {d.device})")
    a(
        "--precision",
        choices=["auto", "fp32", "bf16"],
        default=d.precision,
        help="training precision (default auto: bf16 where the machine computes it natively)",
    )
    a(
        "--test-sequences",
        type=positive_int,
        help=f"held-out test sequences (default {DEFAULT_TEST_SEQUENCES})",
    )
    a(
        "--eval-batch-size",
        type=positive_int,
        default=d.eval_batch_size,
        help=f"test batch (default {d.eval_batch_size})",
    )
    a(
        "--figure-sequences",
        type=positive_int,
        default=d.figure_sequences,
        help=f"rows of figure5.png (default {d.figure_sequences})",
    )
    a(
        "--threads",
        type=positive_int,
        help="torch CPU threads (default: torch's choice; on a CPU shared with other jobs "
        "fewer can be faster)",
    )
    _add_scoring_arguments(a)
    a(
        "--tiny",
        action="store_true",
        help="debug preset for tests: tiny models on 32x32 frames, 3 steps, 8 test sequences",
    )


def run(args: argparse.Namespace) -> int:
    """Dispatch ``vstm reproduce TABLE``."""
    if args.table == "table1":
        return _run_table1(args)
    if args.table == "warpcheck":
        return _run_warpcheck(args)
    if args.table == "figure6":
        return _run_figure6(args)
    choices = "table1, warpcheck, figure6"
    raise VstmError(f"unknown table {args.table!r}; choose: {choices}")  # pragma: no cover


def _run_table1(args: argparse.Namespace) -> int:
    """``vstm reproduce table1``: train, evaluate, write the tables and figures; print
    ``table1.md`` and the files written."""
    settings = Table1Settings(
        out=args.out,
        models=tuple(m.strip() for m in args.models.split(",") if m.strip()),
        epochs=args.epochs,
        budget_minutes=args.budget_minutes,
        recipe=args.recipe,
        batch_size=args.batch_size,
        seed=args.seed,
        device=args.device,
        precision=args.precision,
        test_sequences=args.test_sequences,
        eval_batch_size=args.eval_batch_size,
        figure_sequences=args.figure_sequences,
        threads=args.threads,
        score_only=args.score_only or args.shipped,
        shipped=args.shipped,
        tiny=args.tiny,
    )
    run_table1(settings)
    out = Path(args.out)
    print((out / "table1.md").read_text())
    for name in ("table1.json", "table1.md", "figure5.png", "curves.png"):
        print(f"{name}: {out / name}")
    return 0
