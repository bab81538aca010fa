"""Scoring segmenters: the paper's Table 2 layout plus mIoU, and temporal consistency.

Two sets of frames are scored:

- ``labelled``: the labelled frame of every test clip (the last), each segmented after the
  clip's preceding frames, the paper's protocol (CamVid has labels only there);
- ``all``: every frame whose ground truth is known (all frames of labelled Moving MNIST test
  sequences, built with ``dense=True``).

Temporal consistency (:func:`~vstm.segment.metrics.flip_counts`): the fraction of pixels
whose predicted label changes between consecutive frames where the ground truth does not;
without dense ground truth, the fraction of all pixels whose label changes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn
from torch.utils.data import DataLoader

from vstm.segment.metrics import confusion_matrix, flip_counts, scores_from_confusion

__all__ = [
    "SegEval",
    "evaluate_segmenters",
    "format_table2",
    "segmenter_rows",
]


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
        from vstm.metrics import epe, flow_to_motion

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


def segmenter_rows(
    name: str, model: nn.Module, frames: torch.Tensor
) -> tuple[dict[str, torch.Tensor], torch.Tensor | None]:
    """The label predictions (B, T, H, W) a segmenter contributes to the table, and its flow.

    A ``segnet`` gives one row and no flow; a ``segnet-flow`` two rows, its output and its
    SegNet branch alone (the same network without propagation), and its flow
    (B, T, 2, h, w).
    """
    if getattr(model, "name", "") == "segnet":
        return {name: model.segment(frames).argmax(dim=2)}, None
    out = model(frames)
    rows = {name: out.seg.argmax(dim=2), f"{name} (SegNet branch)": out.base.argmax(dim=2)}
    return rows, out.flow


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
