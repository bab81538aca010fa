"""Weakly-supervised segmentation as a training task: a model and a batch in, named losses out.

- SegNet (the per-frame baseline): cross-entropy on the labelled frames only; the other
  frames of a clip are not even run (they carry no labels and the model has no memory).
- SegNet-flow (paper 5.2): cross-entropy of L̃_t on the labelled frames, **added** to the
  next-frame reconstruction loss of AE-ConvLSTM-flow and its Huber smoothness penalty (eq. 4),
  all trained jointly, end to end.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from vstm.errors import VstmError
from vstm.segment.metrics import VOID
from vstm.train.task import NextFrameTask

__all__ = ["SegLossParts", "SegmentationTask", "labelled_frames", "median_frequency_weights"]


@dataclass
class SegLossParts:
    """Scalar tensors: ``total`` (with gradient) and its detached parts."""

    total: torch.Tensor
    seg: torch.Tensor
    recon: torch.Tensor
    smooth: torch.Tensor


def labelled_frames(batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """The labelled frames of a batch and their labels: (N, C, H, W), (N, H, W)."""
    frames, labels, labelled = batch["frames"], batch["labels"], batch["labelled"]
    return frames[labelled], labels[labelled]  # boolean index over (B, T)


def median_frequency_weights(labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """SegNet's median frequency balancing: ``w_k = median(freq) / freq_k``.

    ``freq_k`` is the number of pixels of class k divided by the number of pixels of the
    images (label maps) in which k occurs; classes that never occur get weight 0.

    Args:
        labels: (N, H, W) label maps (void pixels are ignored).

    >>> import torch
    >>> lab = torch.tensor([[[0, 0, 0, 1]], [[0, 0, 0, 0]]])   # class 1 only in map 0
    >>> [round(w, 4) for w in median_frequency_weights(lab, 2).tolist()]  # freq 7/8, 1/4
    [0.6429, 2.25]
    """
    counts = torch.zeros(num_classes, dtype=torch.float64)
    image_pixels = torch.zeros(num_classes, dtype=torch.float64)
    for lab in labels:
        valid = (lab >= 0) & (lab < num_classes)
        c = torch.bincount(lab[valid].reshape(-1), minlength=num_classes).double()
        counts += c
        image_pixels += (c > 0).double() * float(valid.sum())
    present = counts > 0
    freq = torch.where(present, counts / image_pixels.clamp(min=1), torch.zeros_like(counts))
    median = (
        freq[present].quantile(0.5) if present.any() else torch.tensor(1.0, dtype=torch.float64)
    )
    w = torch.where(present, median / freq.clamp(min=1e-12), torch.zeros_like(freq))
    return w.float()


class SegmentationTask:
    """Loss of a segmenter on a batch ``{"frames", "labels", "labelled"}``.

    Args:
        recon_loss: ``"bce"`` (binary frames, logits out) or ``"mse"``, for SegNet-flow.
        w_recon: weight of the reconstruction term beside the cross-entropy (paper: added, 1).
        w_h, delta: the smoothness penalty (paper: 1e-2, 1e-3); added as a loss term when the
            model's config says ``smoothness="loss"``.
        class_weights: optional (K,) weights of the cross-entropy (SegNet's median frequency
            balancing: :func:`median_frequency_weights`).
    """

    def __init__(
        self,
        recon_loss: str = "bce",
        w_recon: float = 1.0,
        w_h: float = 1e-2,
        delta: float = 1e-3,
        class_weights: torch.Tensor | None = None,
    ) -> None:
        self.next_frame = NextFrameTask(recon_loss, w_h, delta)
        self.w_recon = w_recon
        self.class_weights = class_weights

    def cross_entropy(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Mean (weighted) cross-entropy over non-void pixels: logits (N, K, H, W), labels
        (N, H, W)."""
        if (labels != VOID).sum() == 0:
            return logits.sum() * 0.0  # keeps the graph; no labelled pixel in this batch
        w = self.class_weights
        w = None if w is None else w.to(device=logits.device, dtype=torch.float32)
        return F.cross_entropy(logits.float(), labels, weight=w, ignore_index=VOID)

    def __call__(self, model: nn.Module, batch: dict[str, torch.Tensor]) -> SegLossParts:
        if not bool(batch["labelled"].any()):
            raise VstmError("segmentation batch holds no labelled frame; check the data set")
        if getattr(model, "name", "") == "segnet":
            frames, labels = labelled_frames(batch)  # (N, C, H, W), (N, H, W)
            seg = self.cross_entropy(model(frames), labels)
            zero = seg.new_zeros(())
            return SegLossParts(seg, seg.detach(), zero, zero)
        frames = batch["frames"]  # (B, T, C, H, W)
        out = model(frames)  # SegPrediction
        labelled = batch["labelled"]  # (B, T)
        seg = self.cross_entropy(out.seg[labelled], batch["labels"][labelled])
        # pred[:, t] predicts frame t+1: score pred[:, :-1] against frames[:, 1:]
        recon = self.next_frame.reconstruction(out.pred[:, :-1], frames[:, 1:])
        smooth = self.next_frame.smoothness(model, out)
        total = seg + self.w_recon * recon + smooth
        return SegLossParts(total, seg.detach(), recon.detach(), smooth.detach())
