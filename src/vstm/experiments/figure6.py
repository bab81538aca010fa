"""The paper's Figure 6 on real video (section 5.1), with numbers on held-out frames.

:func:`run_figure6` trains AE-ConvLSTM-flow with MSE on a folder of videos, leaving out the
last ``holdout`` fraction of every video (resumable: ``OUT/run``), or takes a checkpoint;
then, on clips cut from exactly that held-out part (:class:`vstm.data.VideoClips` with
``span=(1 - holdout, 1)``; the training clips come from ``span=(0, 1 - holdout)``, and the
two share no frame), it scores the prediction of frame K+1 from frames 1..K:

- next-frame MSE, PSNR and SSIM of the model, of copying the last frame, and of OpenCV DIS
  and Farnebäck flow extrapolated at constant velocity
  (:func:`vstm.baselines.classical.predict_constant_velocity`);
- the label-free movers check (:func:`vstm.metrics.movers_auc`): how well each method's
  motion magnitude separates the pixels that change between frames K and K+1 from those that
  do not. The model's motion is ``-flow`` at image resolution; DIS and Farnebäck's is their
  t-1 -> t motion, which they extrapolate; "DIS t -> t+1" measures the flow between the two
  true frames, an upper reference that sees the frame the others predict.

It writes ``figure6.png`` in the paper's layout (the last three inputs t-2..t, the true
frame t+1, the predicted frame t+1, the predicted flow in Middlebury colours), and
``figure6.json`` / ``figure6.md`` with the table.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vstm import metrics
from vstm.baselines.classical import estimate_motion, predict_constant_velocity
from vstm.data import VideoClips
from vstm.data.video import frame_cache_dir
from vstm.errors import VstmError
from vstm.eval.next_frame import copy_last_predictor, model_predictor
from vstm.experiments.runs import checkpoint_of, train_model
from vstm.experiments.table1 import RECIPES
from vstm.io import atomic_write_text, same_path
from vstm.models import pretrained, to_probabilities
from vstm.models.checkpoint import load_checkpoint, model_outputs
from vstm.system import machine_info, resolve_device
from vstm.train.config import make_config
from vstm.viz import save_png
from vstm.viz.figures import figure5

__all__ = ["FIGURE6_RECIPE", "Figure6Settings", "heldout_clips", "run_figure6", "score_clips"]

log = logging.getLogger("vstm.figure6")

FIGURE6_RECIPE: dict[str, Any] = {"loss": "mse", **RECIPES["fast"]}
"""Training recipe: MSE (the paper's loss on real video) with the ``fast`` optimiser recipe
of ``vstm reproduce table1`` (Adam 1e-3, Θ at a tenth of the rate)."""

_TINY_MODEL = {"hidden_channels": 8, "lstm_kernel": 3, "flow_kernel": 5}

ROWS: dict[str, str] = {
    "model": "AE-ConvLSTM-flow",
    "copy-last": "copy last frame",
    "dis": "OpenCV DIS, constant velocity",
    "farneback": "OpenCV Farnebäck, constant velocity",
    "dis-observed": "OpenCV DIS t -> t+1 (sees frame t+1; movers only)",
}


@dataclass(frozen=True)
class Figure6Settings:
    """Settings of :func:`run_figure6` (the command's flags).

    Attributes:
        data: a video file or a folder of videos/frames.
        out: results folder (``OUT/run`` holds the training run).
        checkpoint: evaluate this checkpoint instead of training.
        holdout: the last fraction of every video, held out of training and tested on.
        context: K, frames fed before the scored frame (the paper: 12).
        size: frames are resized (centre crop) to size x size.
        channels: 1 grey or 3 colour.
        frame_step: take every N-th frame.
        frame_cache: decoded-frame cache folder, ``"auto"`` (default: ``$VSTM_CACHE_DIR`` or
            ``~/.cache/vstm/frames``), or None (decode per clip; a truncated video's clips
            past its real end then fail instead of being dropped).
        minutes / steps: training budget (wall-clock minutes, or optimiser steps).
        batch_size, seed, device, workers: training settings.
        figure_clips: rows of figure6.png; max_test_clips: cap on the scored clips.
        tiny: debug preset for tests (a tiny model, 32x32, 3 context frames, 2 steps).
        test_stride: held-out clips start every this many (subsampled) frames; below
            ``context + 1`` they overlap and every held-out frame past the first ``context``
            of a video is scored once.
        model: the registry model to train (without ``checkpoint``).
        baselines_only: no model: score copy-last, DIS and Farnebäck only, and draw DIS's
            prediction and motion in the figure.
    """

    data: str
    out: str
    checkpoint: str | None = None
    holdout: float = 0.2
    context: int = 12
    size: int = 96
    channels: int = 3
    frame_step: int = 2
    frame_cache: str | None = "auto"
    minutes: float | None = 30.0
    steps: int | None = None
    batch_size: int = 8
    seed: int = 0
    device: str = "auto"
    workers: int = 0
    figure_clips: int = 4
    max_test_clips: int | None = None
    tiny: bool = False
    baselines_only: bool = False
    test_stride: int = 1
    model: str = "ae-convlstm-flow"


def heldout_clips(
    data: str,
    *,
    holdout: float,
    seq_len: int,
    size: int | None,
    channels: int,
    frame_step: int,
    frame_cache: str | None = None,
    stride: int | None = None,
):
    """Clips of ``seq_len`` frames from the last ``holdout`` of every video, starting every
    ``stride`` frames (default ``seq_len``: no overlap).

    The frames are those a training run with ``--holdout holdout`` never sees
    (:class:`~vstm.data.VideoClips` spans ``(0, 1 - holdout)`` and ``(1 - holdout, 1)``).
    """

    if not 0.0 < holdout < 1.0:
        raise VstmError(f"--holdout must be a fraction between 0 and 1, got {holdout}")
    return VideoClips(
        data,
        seq_len=seq_len,
        frame_step=frame_step,
        channels=channels,
        size=size,
        span=(1.0 - holdout, 1.0),
        cache_dir=frame_cache_dir(frame_cache),
        stride=stride,
    )


def _train_config(s: Figure6Settings):

    settings: dict[str, Any] = {
        "model": s.model,
        "data": s.data,
        "holdout": s.holdout,
        "size": s.size,
        "channels": s.channels,
        "context": s.context,
        "frame_step": s.frame_step,
        "frame_cache": s.frame_cache,
        "batch_size": s.batch_size,
        "seed": s.seed,
        "device": s.device,
        "workers": s.workers,
        "out": str(Path(s.out) / "run"),
        "max_minutes": s.minutes,
        "save_minutes": 2.5,
    }
    if s.steps is not None:
        settings["steps"] = s.steps
    else:
        settings["epochs"] = 10_000  # the budget in minutes ends the run
    layers: list[dict[str, Any]] = [FIGURE6_RECIPE, settings]
    if s.tiny:
        layers.append(
            {"model_options": _TINY_MODEL, "val_sequences": 2, "log_every": 1, "batch_size": 2}
        )
    return make_config(*layers)


def _train_or_resume(s: Figure6Settings) -> tuple[Path, dict[str, Any]]:
    """Train (or resume) the run in ``OUT/run``; its best checkpoint and the record."""
    cfg = _train_config(s)
    budget = {"steps": cfg.steps, "budget_minutes": s.minutes, "epochs": None}
    # The command has no --precision: each start takes the machine's fastest path, so a run
    # begun in bf16 on a GPU continues in fp32 on a CPU (trainer.machines records both).
    record = train_model(cfg, budget, skip=("precision",))
    return checkpoint_of(Path(cfg.out)), record


@torch.no_grad()
def score_clips(
    model,
    outputs: str,
    clips,
    context: int,
    device: torch.device,
    methods: tuple[str, ...] = ("model", "copy-last", "dis", "farneback", "dis-observed"),
    batch_size: int = 8,
    show: str = "model",
) -> tuple[dict[str, dict[str, float]], dict[str, torch.Tensor]]:
    """Score every method on ``clips`` (items with frames (T, C, H, W), T > ``context``).

    ``model`` may be None when ``methods`` leaves out ``"model"``.

    Returns:
        ({method: {"mse", "psnr", "ssim", "movers_auc", "clips"}}, the outputs of method
        ``show`` on every clip for the figure: "context" (N, K, C, H, W), "truth"
        (N, C, H, W), "pred" (N, C, H, W), "motion" (N, 2, H, W)).
    """
    from torch.utils.data import DataLoader

    predict_model = model_predictor(model, outputs) if model is not None else None
    sums: dict[str, dict[str, list[torch.Tensor]]] = {m: {} for m in methods}
    shown: dict[str, list[torch.Tensor]] = {"context": [], "truth": [], "pred": [], "motion": []}
    for batch in DataLoader(clips, batch_size=batch_size):
        frames = batch["frames"].to(device)  # (B, T, C, H, W)
        ctx, truth, last = frames[:, :context], frames[:, context], frames[:, context - 1]
        for m in methods:
            if m == "model":
                pred, motion = predict_model(ctx)
            elif m == "copy-last":
                pred, motion = copy_last_predictor(ctx)
            elif m in ("dis", "farneback"):
                pred, motion = predict_constant_velocity(ctx, m)
            elif m == "dis-observed":
                pred, motion = None, estimate_motion(last, truth, "dis")
            else:
                raise VstmError(f"unknown method {m!r}")
            if m == show:
                shown["context"].append(ctx.cpu())
                shown["truth"].append(truth.cpu())
                shown["pred"].append(pred.cpu())
                shown["motion"].append(motion.cpu())
            out = sums[m]
            if pred is not None:
                pred = to_probabilities(pred.float(), "values")
                out.setdefault("mse", []).append(metrics.mse(pred, truth, reduction="none"))
                out.setdefault("psnr", []).append(
                    metrics.psnr(pred, truth, max_db=100.0, reduction="none")
                )
                out.setdefault("ssim", []).append(metrics.ssim(pred, truth, reduction="none"))
            out.setdefault("movers_auc", []).append(
                metrics.movers_auc(motion.float(), last, truth, reduction="none")
            )
    table: dict[str, dict[str, float]] = {}
    for m, parts in sums.items():
        row = {k: float(torch.cat(v).double().nanmean()) for k, v in parts.items()}
        row["clips"] = len(clips)
        table[m] = row
    figure = {k: torch.cat(v) for k, v in shown.items() if v}
    source = clip_sources(clips)
    if source is not None:
        figure["source"] = torch.from_numpy(np.unique(source, return_inverse=True)[1])
        for m, parts in sums.items():
            per = {k: torch.cat(v).double() for k, v in parts.items()}
            by = table[m]["by_source"] = {}
            for src in np.unique(source).tolist():
                sel = torch.from_numpy(source == src)
                by[src] = {k: float(v[sel].nanmean()) for k, v in per.items()}
                by[src]["clips"] = int(sel.sum())
    return table, figure


def clip_sources(clips) -> np.ndarray | None:
    """The source video's name of every clip (N,), for a :class:`~vstm.data.VideoClips` or a
    Subset of one; None for other data sets."""
    base, idx = clips, None
    if hasattr(clips, "dataset") and hasattr(clips, "indices"):
        base, idx = clips.dataset, np.asarray(clips.indices)
    if not hasattr(base, "clip_source") or not hasattr(base, "sources"):
        return None
    names = np.array([Path(str(getattr(p, "path", p))).name for p in base.sources])
    src = base.clip_source if idx is None else base.clip_source[idx]
    return names[src]


def _figure(figure: dict[str, torch.Tensor], n: int, name: str = "") -> np.ndarray:

    total = figure["truth"].shape[0]
    pick = np.unique(np.linspace(0, total - 1, min(n, total)).round().astype(int)).tolist()
    if "source" in figure:  # the middle clip of each video first, then evenly spread
        src = figure["source"].numpy()
        where = [np.flatnonzero(src == v) for v in np.unique(src)]  # clips of each video
        middle = [int(w[len(w) // 2]) for w in where]
        pick = sorted(dict.fromkeys(middle + pick))[:n] if len(middle) < n else middle[:n]
    return figure5(
        figure["context"][pick],
        figure["truth"][pick],
        {f"predicted t+1{name}": figure["pred"][pick]},
        motion=figure["motion"][pick],
        last=3,
    )


def _fmt(x: Any, spec: str) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "—"
    return format(x, spec)


def _markdown(report: dict[str, Any]) -> str:
    s, m = report["settings"], report["machine"]
    seen = report["test_frames_seen_in_training"]
    lines = [
        "# Figure 6 on real video: next frame and flow on held-out frames",
        "",
        f"Command: `{report['command']}`",
        "",
        f"- Date: {report['date']}. Machine: {m['cpu']}, {m['logical_cores']} logical cores, "
        f"ISA {m['isa']}; torch {m['torch']}.",
        f"- Data: `{s['data']}`, {report['sources']} video(s); frames centre-cropped and "
        f"resized to {s['size']}x{s['size']}, {'RGB' if s['channels'] == 3 else 'grey'}, every "
        f"{s['frame_step']} frame(s). Held out: the last {100 * s['holdout']:g}% of every video "
        f"({report['test_clips']} clips of {s['context'] + 1} frames starting every "
        f"{s.get('test_stride') or s['context'] + 1} frame(s), none of which a run "
        f"with --holdout {s['holdout']:g} trains on)"
        + (
            "; WARNING: the checkpoint was trained on these frames"
            if seen
            else (" and never trained on" if seen is False else "")
        )
        + ".",
        (
            f"- Model: `{report['checkpoint']}`"
            + (f" ({report['training']})" if report.get("training") else "")
            if report["checkpoint"]
            else "- No model (--baselines-only); the figure shows DIS's prediction and motion"
        )
        + f"; scored on frame {s['context'] + 1} given frames 1..{s['context']}.",
        "- Movers AUC: how well |motion| separates the pixels that change by more than 0.05 "
        "between frames t and t+1 from the rest (1 = perfectly, 0.5 = not at all; "
        "`vstm.metrics.movers_auc`).",
        "",
        "| method | MSE | PSNR dB | SSIM | movers AUC |",
        "|---|--:|--:|--:|--:|",
    ]
    labels = {**ROWS, "model": report.get("model") or ROWS["model"]}
    for key, row in report["table"].items():
        lines.append(
            f"| {labels.get(key, key)} | {_fmt(row.get('mse'), '.5f')} | "
            f"{_fmt(row.get('psnr'), '.2f')} | {_fmt(row.get('ssim'), '.4f')} | "
            f"{_fmt(row.get('movers_auc'), '.3f')} |"
        )
    sources = sorted({v for row in report["table"].values() for v in row.get("by_source", {})})
    if sources:
        lines += [
            "",
            "Per video (MSE; clips scored):",
            "",
            "| method | " + " | ".join(f"{v}" for v in sources) + " |",
            "|---|" + "--:|" * len(sources),
        ]
        for key, row in report["table"].items():
            by = row.get("by_source", {})
            cells = [
                f"{_fmt(by[v].get('mse'), '.5f')} ({by[v]['clips']})" if v in by else "—"
                for v in sources
            ]
            if any(by.get(v, {}).get("mse") is not None for v in sources):
                lines.append(f"| {labels.get(key, key)} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "Figure: `figure6.png` (the paper's layout: inputs t-2, t-1, t; the true frame t+1; "
        "the predicted frame t+1; the predicted motion t -> t+1 in Middlebury colours).",
        "",
    ]
    return "\n".join(lines)


def run_figure6(s: Figure6Settings, command: str = "") -> dict[str, Any]:
    """Train (or load), score on the held-out frames, write figure6.{png,json,md} in ``out``."""

    if s.frame_cache is not None and s.frame_cache.lower() in ("none", ""):
        s = Figure6Settings(**{**asdict(s), "frame_cache": None})  # decode per clip
    if s.tiny:
        s = Figure6Settings(
            **{**asdict(s), "size": 32, "context": 3, "steps": s.steps or 2, "minutes": None}
        )
    if s.context < 2:
        raise VstmError(f"--context must be at least 2, got {s.context}")
    out = Path(s.out)
    # The held-out clips first: a folder with no usable video fails before any training.
    clips = heldout_clips(
        s.data,
        holdout=s.holdout,
        seq_len=s.context + 1,
        size=s.size,
        channels=s.channels,
        frame_step=s.frame_step,
        frame_cache=s.frame_cache,
        stride=s.test_stride,
    )
    training = None
    if s.baselines_only:
        if s.checkpoint is not None:
            raise VstmError("--baselines-only scores no model; leave out --checkpoint")
        methods = tuple(m for m in ROWS if m != "model")
        table, figure = score_clips(
            None, "values", _cap(clips, s.max_test_clips), s.context, torch.device("cpu"),
            methods=methods, show="dis",
        )  # fmt: skip
        return _write(s, out, command, table, figure, clips, None, None, None, " (DIS)")
    if s.checkpoint is None:
        ckpt, _record = _train_or_resume(s)
        last = json.loads((out / "run" / "last.json").read_text())["trainer"]
        training = (
            f"trained by this command into {out / 'run'}: {last.get('step')} steps, "
            f"{float(last.get('train_seconds') or 0) / 60:.1f} min of training"
        )
    else:  # a file, or pretrained:NAME/DATASET (kept as the name: it is not a path)
        ckpt = s.checkpoint if pretrained.is_pretrained(s.checkpoint) else Path(s.checkpoint)
    device = resolve_device(s.device)
    model, header = load_checkpoint(ckpt, map_location=device)
    if model.in_channels != s.channels:
        raise VstmError(
            f"{ckpt}: the model takes {model.in_channels}-channel frames but --channels is "
            f"{s.channels}; pass --channels {model.in_channels}"
        )
    tc = header.get("train_config") or {}
    seen: bool | None = None
    if tc.get("data") and same_path(tc["data"], s.data):
        seen = float(tc.get("holdout", 0.0)) + 1e-9 < s.holdout
        if seen:
            log.warning(
                "%s was trained on %s with holdout %s: the test frames (the last %g) were "
                "seen in training; the scores are not held-out scores",
                ckpt,
                s.data,
                tc.get("holdout", 0.0),
                s.holdout,
            )
    clips = _cap(clips, s.max_test_clips)
    log.info("scoring %d held-out clips", len(clips))
    table, figure = score_clips(model, model_outputs(header), clips, s.context, device)
    return _write(
        s, out, command, table, figure, clips, str(ckpt), training, seen, "", header["model"]
    )


def _cap(clips, max_clips: int | None):
    """At most ``max_clips`` of ``clips``, evenly spread."""
    if max_clips is None or len(clips) <= max_clips:
        return clips
    from torch.utils.data import Subset

    keep = np.unique(np.linspace(0, len(clips) - 1, max_clips).round().astype(int))
    return Subset(clips, keep.tolist())


def _write(
    s: Figure6Settings,
    out: Path,
    command: str,
    table: dict[str, dict[str, float]],
    figure: dict[str, torch.Tensor],
    clips,
    checkpoint: str | None,
    training: str | None,
    seen: bool | None,
    shown: str,
    model: str | None = None,
) -> dict[str, Any]:

    out.mkdir(parents=True, exist_ok=True)
    save_png(out / "figure6.png", _figure(figure, s.figure_clips, shown))
    base = clips.dataset if hasattr(clips, "dataset") else clips
    report = {
        "command": command,
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine_info(),
        "settings": asdict(s),
        "checkpoint": checkpoint,
        "model": model,
        "training": training,
        "sources": len(base.sources),
        "test_clips": len(clips),
        "test_frames_seen_in_training": seen,
        "table": table,
    }
    atomic_write_text(out / "figure6.json", json.dumps(report, indent=2) + "\n")
    atomic_write_text(out / "figure6.md", _markdown(report))
    return report
