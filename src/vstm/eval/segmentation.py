"""Scoring segmenters (paper 5.2): the paper's Table 2 layout plus mIoU, and temporal consistency.

Two sets of frames are scored:

- ``labelled``: the labelled frame of every test clip (the last), each segmented after the
  clip's preceding frames, the paper's protocol (CamVid has labels only there);
- ``all``: every frame whose ground truth is known (all frames of labelled Moving MNIST test
  sequences, built with ``dense=True``).

Temporal consistency (:func:`~vstm.metrics.flip_counts`): the fraction of pixels
whose predicted label changes between consecutive frames where the ground truth does not;
without dense ground truth, the fraction of all pixels whose label changes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader

from vstm.data import build_dataset
from vstm.data.labelled import label_set_of, parse_size
from vstm.data.names import BUILTIN_DATA, canonical_data
from vstm.errors import VstmError
from vstm.metrics import confusion_matrix, epe, flip_counts, flow_to_motion, scores_from_confusion
from vstm.models import facts_of, model_facts, model_names
from vstm.models.checkpoint import clip_length, load_checkpoint, read_checkpoint

__all__ = [
    "DISPLAY",
    "CheckpointsEval",
    "SegEval",
    "evaluate_checkpoints",
    "evaluate_segmenters",
    "figure8_columns",
    "format_report",
    "format_table2",
    "load_segmenter",
    "row_names",
    "segmenter_rows",
]

DISPLAY = {n: model_facts(n).label for n in model_names("segmentation")}
"""The name each segmenter has in reports (the registry's label)."""
"""The paper's spelling of each segmenter, for table rows."""


@dataclass
class SegEval:
    """Accumulated counts of one segmenter over a test set."""

    num_classes: int
    cm_labelled: torch.Tensor = field(init=False)
    cm_all: torch.Tensor = field(init=False)
    flips: torch.Tensor | None = None  # (T-1,) label flips where the truth is stable
    stable: torch.Tensor | None = None  # (T-1,) pixels where the truth is stable
    raw_flips: torch.Tensor | None = None  # (T-1,) label flips over all pixels
    raw_pixels: int = 0  # pixels per step compared for raw flips
    sequences: int = 0
    epe_sum: float = 0.0  # flow end-point error (px) summed over digit pixels
    epe_zero_sum: float = 0.0  # the same for a zero flow (no propagation motion)
    epe_pixels: int = 0

    def __post_init__(self) -> None:
        k = self.num_classes
        self.cm_labelled = torch.zeros(k, k, dtype=torch.int64)
        self.cm_all = torch.zeros(k, k, dtype=torch.int64)

    def add(self, pred: torch.Tensor, labels: torch.Tensor, labelled: torch.Tensor) -> None:
        """Add a batch: pred, labels (B, T, H, W) class ids; labelled (B, T) bool."""
        k = self.num_classes
        pred, labels, labelled = pred.cpu(), labels.cpu(), labelled.cpu()
        self.cm_labelled += confusion_matrix(pred[labelled], labels[labelled], k)
        self.cm_all += confusion_matrix(pred, labels, k)
        if pred.shape[1] > 1:
            f, s = flip_counts(pred, labels)
            raw = (pred[:, 1:] != pred[:, :-1]).sum(dim=(0, 2, 3))
            self.flips = f if self.flips is None else self.flips + f
            self.stable = s if self.stable is None else self.stable + s
            self.raw_flips = raw if self.raw_flips is None else self.raw_flips + raw
            self.raw_pixels += pred.shape[0] * pred.shape[2] * pred.shape[3]
        self.sequences += pred.shape[0]

    def add_flow(self, flow: torch.Tensor, motion: torch.Tensor, mask: torch.Tensor) -> None:
        """Add the flow of a batch: flow (B, T, 2, h, w) of the model; motion (B, T-1, 2, H, W)
        and mask (B, T-1, 1, H, W) the truth. Scores ``-s * up(flow_t)`` (the motion S
        moves labels by) against ``motion[t]`` on digit pixels, for t = 0..T-2. (The flow
        lives on frame t+1's pixels, the truth on frame t's; for digits translating a few
        pixels the two mostly overlap, the approximation ``vstm eval`` makes too.)"""

        b, t = motion.shape[:2]
        scale = motion.shape[-1] // flow.shape[-1]
        moved = flow_to_motion(flow[:, :t].flatten(0, 1).float().cpu(), scale=scale)
        moved = moved.unflatten(0, (b, t))  # (B, T-1, 2, H, W)
        pixels = mask.flatten(2).sum(2)  # (B, T-1)
        err = epe(moved, motion, mask, reduction="none").nan_to_num()
        zero = epe(torch.zeros_like(motion), motion, mask, reduction="none").nan_to_num()
        self.epe_sum += float((err * pixels).sum())
        self.epe_zero_sum += float((zero * pixels).sum())
        self.epe_pixels += int(pixels.sum())

    def flip_rate(self) -> list[float]:
        """Per step t = 1..T-1: flips / pixels whose truth is stable (nan if none)."""
        if self.flips is None:
            return []
        return [
            float(f) / float(s) if s > 0 else float("nan")
            for f, s in zip(self.flips, self.stable, strict=True)
        ]

    def summary(self, names: list[str]) -> dict:
        """Scores on labelled and all frames, and temporal consistency, as plain numbers."""
        out = {
            "sequences": self.sequences,
            "labelled": scores_from_confusion(self.cm_labelled, names),
            "all": scores_from_confusion(self.cm_all, names),
        }
        if self.flips is not None:
            stable = int(self.stable.sum())
            out["flip_rate"] = float(self.flips.sum()) / stable if stable else float("nan")
            out["flip_rate_per_step"] = self.flip_rate()
            out["raw_flip_rate"] = float(self.raw_flips.sum()) / max(
                self.raw_pixels * len(self.raw_flips), 1
            )
        if self.epe_pixels:
            out["flow_epe"] = self.epe_sum / self.epe_pixels
            out["zero_flow_epe"] = self.epe_zero_sum / self.epe_pixels
        return out


def load_segmenter(
    path: str | Path, map_location: str | torch.device = "cpu"
) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild a segmenter (``segnet`` or ``segnet-flow``) from a checkpoint alone.

    Returns:
        (model in eval mode, header with ``model``, ``model_config``, ``train_config``,
        ``trainer``).
    """

    header, _ = read_checkpoint(path)
    name = header.get("model")
    if name not in model_names("segmentation"):
        raise VstmError(
            f"checkpoint {path} holds a {name!r} model, not a segmenter; pass a checkpoint "
            "written by vstm segment train"
        )
    return load_checkpoint(path, map_location=map_location)


def segmenter_rows(
    name: str, model: nn.Module, frames: torch.Tensor
) -> tuple[dict[str, torch.Tensor], torch.Tensor | None]:
    """The label predictions (B, T, H, W) a segmenter contributes to the table, and its flow.

    A ``segnet`` gives one row and no flow; a ``segnet-flow`` two rows, its output and its
    SegNet branch alone (the same network without propagation), and its flow
    (B, T, 2, h, w).
    """
    if facts_of(model).segmenter == "per-frame":
        return {name: model.segment(frames).argmax(dim=2)}, None
    out = model(frames)
    rows = {name: out.seg.argmax(dim=2), f"{name} (SegNet branch)": out.base.argmax(dim=2)}
    return rows, out.flow


@torch.no_grad()
def figure8_columns(
    models: dict[str, nn.Module], dataset, rows: int, device: torch.device | str = "cpu"
) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
    """What Figure 8 shows of ``models`` (column title -> segmenter): the labelled (last)
    frame of the first ``rows`` clips of ``dataset``.

    Returns:
        (frames (N, C, H, W), truth (N, H, W), column title -> predicted ids (N, H, W)), on
        the CPU, for :func:`vstm.viz.segmentation.write_figure8`; a SegNet-flow's SegNet
        branch is left out.
    """
    items = [dataset[i] for i in range(min(rows, len(dataset)))]
    frames = torch.stack([it["frames"] for it in items]).to(device)  # (N, T, C, H, W)
    labels = torch.stack([it["labels"] for it in items])  # (N, T, H, W)
    preds: dict[str, torch.Tensor] = {}
    for name, m in models.items():
        for row, p in segmenter_rows(name, m, frames)[0].items():
            if not row.endswith("(SegNet branch)"):
                preds[row] = p[:, -1].cpu()
    return frames[:, -1].cpu(), labels[:, -1], preds


@torch.no_grad()
def evaluate_segmenters(
    models: dict[str, nn.Module],
    dataset,
    num_classes: int,
    batch_size: int = 16,
    device: torch.device | str = "cpu",
) -> dict[str, SegEval]:
    """Score every model on ``dataset`` (items with frames, labels, labelled).

    Returns:
        row name -> :class:`SegEval`, in the order of ``models`` (a SegNet-flow adds a
        row for its SegNet branch after its own).
    """
    results: dict[str, SegEval] = {}
    for m in models.values():
        m.eval()
    for batch in DataLoader(dataset, batch_size=batch_size):
        frames = batch["frames"].to(device)  # (B, T, C, H, W)
        labels, labelled = batch["labels"], batch["labelled"]  # (B, T, H, W), (B, T)
        for name, model in models.items():
            rows, flow = segmenter_rows(name, model, frames)
            for row, pred in rows.items():
                results.setdefault(row, SegEval(num_classes)).add(pred, labels, labelled)
            if flow is not None and "motion" in batch:
                results[name].add_flow(flow, batch["motion"], batch["mask"])
    return results


def format_table2(
    summaries: dict[str, dict], names: list[str], which: str = "labelled", markdown: bool = False
) -> str:
    """Table 2's layout: one row per model; per-class accuracy, class average, global
    accuracy, then mIoU (all in %); ``which`` picks ``labelled`` or ``all`` frames."""
    cols = [*names, "class avg.", "global avg.", "mIoU"]
    rows = []
    for model, s in summaries.items():
        sc = s[which]
        vals = [sc["per_class"][n] for n in names] + [sc["class_avg"], sc["global"], sc["miou"]]
        rows.append((model, vals))
    if markdown:
        lines = ["| model | " + " | ".join(cols) + " |", "|---" * (len(cols) + 1) + "|"]
        for model, vals in rows:
            lines.append(f"| {model} | " + " | ".join(f"{v:.1f}" for v in vals) + " |")
        return "\n".join(lines)
    w = max(12, *(len(m) for m, _ in rows)) + 2
    cw = [max(7, len(c) + 2) for c in cols]
    lines = [f"{'model':<{w}}" + "".join(f"{c:>{n}}" for c, n in zip(cols, cw, strict=True))]
    for model, vals in rows:
        cells = "".join(f"{v:>{n}.1f}" for v, n in zip(vals, cw, strict=True))
        lines.append(f"{model:<{w}}" + cells)
    return "\n".join(lines)


# ------------------------------------------------------------------ checkpoints (vstm segment eval)
def row_names(headers: list[dict], paths: list[str]) -> list[str]:
    """A table row name per checkpoint: the model's display name, and the run folder's name
    beside it when two checkpoints are of one model."""
    names = [DISPLAY.get(h["model"], h["model"]) for h in headers]
    if len(set(names)) < len(names):  # two runs of one model: tell them apart by folder
        names = [
            f"{n} ({Path(p).resolve().parent.name})" for n, p in zip(names, paths, strict=True)
        ]
    return names


@dataclass
class CheckpointsEval:
    """Segmenter checkpoints scored on one test set (:func:`evaluate_checkpoints`)."""

    checkpoints: list[str]
    headers: list[dict]
    names: list[str]
    """The table row of each checkpoint (:func:`row_names`)."""
    models: dict[str, nn.Module]
    """Row name -> model, in the order of ``checkpoints``."""
    dataset: object
    label_set: object
    """The :class:`~vstm.data.labelled.LabelSet` of the test set."""
    data: str
    seq_len: int
    mnist: bool
    """Labelled Moving MNIST (the truth is known on every frame)."""
    results: dict[str, SegEval]
    summaries: dict[str, dict]

    @property
    def classes(self) -> list[str]:
        return list(self.label_set.names)

    @property
    def sequences(self) -> int:
        return next(iter(self.results.values())).sequences

    @property
    def where(self) -> str:
        return f"{self.sequences} test clips of {self.seq_len} frames of {self.data}"

    def to_json(self) -> dict:
        """All numbers, with the checkpoints, the test set and each run's training seconds."""
        return {
            "checkpoints": self.checkpoints,
            "data": self.data,
            "seq_len": self.seq_len,
            "sequences": self.sequences,
            "classes": self.classes,
            "results": self.summaries,
            "train_seconds": {
                n: h["trainer"].get("train_seconds")
                for n, h in zip(self.names, self.headers, strict=True)
            },
        }


def evaluate_checkpoints(
    checkpoints: list[str],
    *,
    data: str | None = None,
    split: str = "test",
    classes: str | None = None,
    num: int = 256,
    seq_len: int | None = None,
    seed: int = 0,
    batch_size: int = 16,
    device: torch.device | str = "cpu",
) -> CheckpointsEval:
    """Table 2 of segmenter checkpoints on the same test clips (``vstm segment eval``).

    The test set is the one the first checkpoint was trained on, unless ``data`` (and
    ``classes``, ``seq_len``) say otherwise; every checkpoint must have been trained on the same
    data (size, channels, binarisation) and segment as many classes as the test set has.
    ``split`` and ``classes`` apply to CamVid; ``num`` and ``seed`` to Moving MNIST.

    Raises:
        VstmError: checkpoints trained on different data, or a class count that does not fit.
    """

    loaded = [load_segmenter(c, map_location=device) for c in checkpoints]
    headers = [h for _, h in loaded]
    tc = headers[0].get("train_config") or {}
    for c, h in zip(checkpoints[1:], headers[1:], strict=True):
        other = h.get("train_config") or {}
        for k in ("data", "size", "channels", "binarize"):
            mine, theirs = tc.get(k), other.get(k)
            if k == "size":  # "32" (older runs) and 32 are one size
                mine, theirs = parse_size(mine), parse_size(theirs)
            if mine != theirs:
                raise VstmError(
                    f"checkpoint {c} was trained with {k}={other.get(k)!r}, the first with "
                    f"{tc.get(k)!r}; compare checkpoints trained on the same data"
                )
    data = data or tc.get("data", "moving-mnist")
    seq_len = seq_len or clip_length(tc)
    mnist = canonical_data(data) in BUILTIN_DATA
    ds = build_dataset(
        data,
        labels=True,
        split="test" if mnist else split,
        seq_len=seq_len,
        num_sequences=num,
        seed=seed,
        size=parse_size(tc.get("size")),
        channels=loaded[0][0].in_channels,
        binarize=tc.get("binarize", True),
        mnist_dir=tc.get("mnist_dir"),
        dense=True,
        frame_step=tc.get("frame_step", 1),
        classes=classes or tc.get("classes"),
    )
    label_set = label_set_of(ds)
    for (m, _), c in zip(loaded, checkpoints, strict=True):
        k = m.num_classes
        if k != label_set.num_classes:
            raise VstmError(
                f"checkpoint {c} segments {k} classes but the data has "
                f"{label_set.num_classes}; evaluate on the data it was trained on"
            )
    names = row_names(headers, checkpoints)
    models = {n: m for n, (m, _) in zip(names, loaded, strict=True)}
    results = evaluate_segmenters(models, ds, label_set.num_classes, batch_size, device)
    summaries = {row: r.summary(list(label_set.names)) for row, r in results.items()}
    return CheckpointsEval(
        checkpoints=list(checkpoints),
        headers=headers,
        names=names,
        models=models,
        dataset=ds,
        label_set=label_set,
        data=data,
        seq_len=seq_len,
        mnist=mnist,
        results=results,
        summaries=summaries,
    )


def format_report(ev: CheckpointsEval, markdown: bool = False) -> str:
    """Table 2 on the labelled frames (and on all frames for Moving MNIST), temporal
    consistency and, for SegNet-flow on Moving MNIST, the flow's end-point error; as plain
    text or Markdown."""
    summaries, classes, where = ev.summaries, ev.classes, ev.where
    nan = float("nan")
    if markdown:
        md = [f"Labelled frames ({where}), accuracy in %:", ""]
        md.append(format_table2(summaries, classes, "labelled", markdown=True))
        if ev.mnist:
            md += ["", f"All frames ({where}):", ""]
            md.append(format_table2(summaries, classes, "all", markdown=True))
        md += [
            "",
            "| model | label flips where truth is stable (%) | all pixels (%) |",
            "|---|---|---|",
        ]
        for row, s in summaries.items():
            md.append(
                f"| {row} | {100 * s.get('flip_rate', nan):.3f} | "
                f"{100 * s.get('raw_flip_rate', nan):.3f} |"
            )
        for row, s in summaries.items():
            if "flow_epe" in s:
                md.append(
                    f"\n{row}: flow end-point error on digit pixels {s['flow_epe']:.3f} px "
                    f"(zero flow: {s['zero_flow_epe']:.3f} px)."
                )
        return "\n".join(md) + "\n"
    text = [f"Labelled frames (the last of each clip; {where}), accuracy in %:"]
    text.append(format_table2(summaries, classes, "labelled"))
    if ev.mnist:
        text += ["", f"All frames ({where}):", format_table2(summaries, classes, "all")]
    text += ["", "Temporal consistency (label flips between consecutive frames, %):"]
    text.append(f"{'model':<34}{'where truth is stable':>24}{'all pixels':>14}")
    for row, s in summaries.items():
        stable = 100.0 * s.get("flip_rate", nan)
        raw = 100.0 * s.get("raw_flip_rate", nan)
        text.append(f"{row:<34}{stable:>24.3f}{raw:>14.3f}")
    for row, s in summaries.items():
        if "flow_epe" in s:
            text.append(
                f"{row}: flow end-point error on digit pixels {s['flow_epe']:.3f} px "
                f"(zero flow: {s['zero_flow_epe']:.3f} px)"
            )
    return "\n".join(text)
