"""Segmentation metrics: the paper's Table 2 (per-class, class-average and global accuracy),
mean IoU, and temporal consistency (label flips between consecutive frames).

Definitions (SegNet, Badrinarayanan et al. 2015, as the paper's Table 2 uses them), from a
confusion matrix ``cm[true, pred]`` accumulated over every non-void pixel of a test set:

- per-class accuracy of class k: ``cm[k, k] / sum_j cm[k, j]`` (the recall of k);
- class average: the mean of the per-class accuracies over the classes that occur in the
  ground truth;
- global accuracy: ``trace(cm) / sum(cm)``, the fraction of all pixels labelled right;
- IoU of class k: ``cm[k, k] / (sum_j cm[k, j] + sum_i cm[i, k] - cm[k, k])``; mIoU is its
  mean over the classes that occur in the ground truth.

Pixels whose ground truth is :data:`VOID` (or any id outside 0..K-1) are left out.
"""

from __future__ import annotations

import math

import torch

from vstm.errors import ShapeError

__all__ = ["VOID", "confusion_matrix", "flip_counts", "scores_from_confusion"]

VOID = 255
"""Label id of void (unlabelled) pixels: ignored by the loss and the metrics."""


def _check_maps(name: str, pred: torch.Tensor, target: torch.Tensor) -> None:
    if pred.shape != target.shape or pred.dim() < 2:
        raise ShapeError(
            f"{name}: pred and target must be label maps (..., H, W) of one shape, got "
            f"{tuple(pred.shape)} and {tuple(target.shape)}"
        )


def confusion_matrix(pred: torch.Tensor, target: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Confusion matrix ``cm[true, pred]`` (K, K) int64 of two integer label maps.

    Args:
        pred: (..., H, W) predicted class ids in 0..K-1.
        target: (..., H, W) true class ids; void (:data:`VOID` or any id outside 0..K-1)
            pixels are not counted.

    >>> import torch
    >>> t = torch.tensor([[0, 0, 1, VOID]]); p = torch.tensor([[0, 1, 1, 0]])
    >>> confusion_matrix(p, t, 2).tolist()
    [[1, 1], [0, 1]]
    """
    _check_maps("confusion_matrix", pred, target)
    t = target.reshape(-1).long()
    p = pred.reshape(-1).long()
    keep = (t >= 0) & (t < num_classes)
    idx = t[keep] * num_classes + p[keep].clamp(0, num_classes - 1)
    return torch.bincount(idx, minlength=num_classes * num_classes).view(num_classes, num_classes)


def scores_from_confusion(cm: torch.Tensor, names: list[str] | None = None) -> dict:
    """Table 2's numbers (in %) from a confusion matrix ``cm[true, pred]`` (K, K).

    Returns:
        ``{"per_class": {name: accuracy or nan if the class never occurs}, "class_avg",
        "global", "miou", "per_class_iou": {...}, "pixels"}``; accuracies in percent.

    >>> import torch
    >>> s = scores_from_confusion(torch.tensor([[3, 1], [0, 1]]), ["a", "b"])
    >>> s["per_class"], s["class_avg"], s["global"], round(s["miou"], 2)
    ({'a': 75.0, 'b': 100.0}, 87.5, 80.0, 62.5)
    """
    k = cm.shape[0]
    names = names or [str(i) for i in range(k)]
    cm = cm.double()
    tp = cm.diag()
    gt = cm.sum(dim=1)  # pixels of each true class
    pr = cm.sum(dim=0)  # pixels predicted as each class
    present = gt > 0
    acc = torch.where(present, tp / gt.clamp(min=1), torch.full_like(tp, math.nan)) * 100
    iou = torch.where(present, tp / (gt + pr - tp).clamp(min=1), torch.full_like(tp, math.nan))
    total = float(cm.sum())
    return {
        "per_class": {n: float(a) for n, a in zip(names, acc, strict=True)},
        "class_avg": float(acc[present].mean()) if present.any() else math.nan,
        "global": 100.0 * float(tp.sum()) / total if total else math.nan,
        "miou": 100.0 * float(iou[present].mean()) if present.any() else math.nan,
        "per_class_iou": {n: 100.0 * float(v) for n, v in zip(names, iou, strict=True)},
        "pixels": int(total),
    }


def flip_counts(pred: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Temporal consistency: label flips between consecutive frames where the truth holds.

    For each pair of frames (t-1, t) and each pixel p (a fixed image position) whose ground
    truth is not void in both frames and does not change (``target[t-1, p] == target[t, p]``),
    count whether the predicted label changes (``pred[t-1, p] != pred[t, p]``). The flip rate
    of step t is ``flips[t-1] / stable[t-1]``; 0 is perfectly consistent.

    Args:
        pred, target: (B, T, H, W) integer label maps; void = :data:`VOID` or negative.

    Returns:
        (flips, stable): int64 (T-1,) each, summed over the batch and pixels.

    >>> import torch
    >>> target = torch.zeros(1, 3, 1, 2, dtype=torch.long)
    >>> pred = torch.tensor([[[[0, 1]], [[1, 1]], [[1, 1]]]])
    >>> flip_counts(pred, target)
    (tensor([1, 0]), tensor([2, 2]))
    """
    _check_maps("flip_counts", pred, target)
    if pred.dim() != 4:
        raise ShapeError(f"flip_counts: expected (B,T,H,W) label maps, got {tuple(pred.shape)}")
    t0, t1 = target[:, :-1], target[:, 1:]
    valid = (t0 >= 0) & (t0 != VOID) & (t1 >= 0) & (t1 != VOID)
    stable = valid & (t0 == t1)  # (B, T-1, H, W)
    flips = stable & (pred[:, :-1] != pred[:, 1:])
    return flips.sum(dim=(0, 2, 3)), stable.sum(dim=(0, 2, 3))
