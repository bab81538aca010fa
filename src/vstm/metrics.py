"""Evaluation metrics: one definition each, used by every command.

Every metric takes torch tensors (..., C, H, W) with any number of leading dimensions
(a frame batch (B, C, H, W), a clip batch (B, T, C, H, W), ...) and averages over the last
three. ``reduction="none"`` returns one value per sample, shaped like the leading
dimensions; ``reduction="mean"`` (the default) returns the scalar mean of those per-sample
values, so every frame weighs the same. Computation is in float32 (float64 inputs stay
float64); metrics carry no gradient requirement but are differentiable where the formula is.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F

from vstm.errors import ShapeError, VstmError

__all__ = [
    "VOID",
    "angular_error",
    "bce",
    "confusion_matrix",
    "epe",
    "flip_counts",
    "flow_to_motion",
    "mae",
    "movers_auc",
    "mse",
    "psnr",
    "roc_auc",
    "scores_from_confusion",
    "ssim",
]

Reduction = Literal["none", "mean"]
Pixels = Literal["mean", "sum"]
"""How :func:`mse` and :func:`mae` combine the (C, H, W) errors of one sample: ``"mean"``
(default), or ``"sum"`` (OpenSTL's Moving MNIST convention: the frame's total error)."""


def _check_pair(name: str, pred: torch.Tensor, target: torch.Tensor) -> None:
    if pred.dim() < 3:
        raise ShapeError(f"{name}: expected shape (...,C,H,W), got {tuple(pred.shape)}")
    if pred.shape != target.shape:
        raise ShapeError(
            f"{name}: pred and target must have the same shape, "
            f"got {tuple(pred.shape)} and {tuple(target.shape)}"
        )


def _float(x: torch.Tensor) -> torch.Tensor:
    return x if x.dtype == torch.float64 else x.to(torch.float32)


def _reduce(per_sample: torch.Tensor, reduction: str, name: str) -> torch.Tensor:
    if reduction == "none":
        return per_sample
    if reduction == "mean":
        return per_sample.mean()
    raise VstmError(f"{name}: reduction must be 'none' or 'mean', got {reduction!r}")


def bce(
    pred: torch.Tensor, target: torch.Tensor, logits: bool = True, reduction: Reduction = "mean"
) -> torch.Tensor:
    """Binary cross-entropy averaged over pixels: the paper's Table 1 "per-pixel average error".

    Args:
        pred: (..., C, H, W) logits (``logits=True``, the decoder's raw output; computed with
            the stable log-sum-exp form) or probabilities in [0, 1] (``logits=False``;
            clamped to [1e-7, 1 - 1e-7] so a confident wrong pixel costs ~16 nats, not inf).
        target: (..., C, H, W) in [0, 1] (binary for binarised Moving MNIST).

    Returns:
        Per-sample (...) tensor, or a scalar with ``reduction="mean"``. In nats.

    >>> import torch
    >>> round(bce(torch.zeros(1, 1, 2, 2), torch.ones(1, 1, 2, 2)).item(), 4)  # log 2
    0.6931
    """
    _check_pair("bce", pred, target)
    pred = _float(pred)
    target = target.to(pred.dtype)
    if logits:
        per_pixel = F.binary_cross_entropy_with_logits(pred, target, reduction="none")
    else:
        p = pred.clamp(1e-7, 1.0 - 1e-7)
        per_pixel = -(target * torch.log(p) + (1.0 - target) * torch.log1p(-p))
    return _reduce(per_pixel.mean(dim=(-3, -2, -1)), reduction, "bce")


def _over_pixels(err: torch.Tensor, pixels: str, name: str) -> torch.Tensor:
    if pixels == "mean":
        return err.mean(dim=(-3, -2, -1))
    if pixels == "sum":
        return err.sum(dim=(-3, -2, -1))
    raise VstmError(f"{name}: pixels must be 'mean' or 'sum', got {pixels!r}")


def mse(
    pred: torch.Tensor,
    target: torch.Tensor,
    reduction: Reduction = "mean",
    pixels: Pixels = "mean",
) -> torch.Tensor:
    """Squared error of (..., C, H, W) tensors, averaged (or, ``pixels="sum"``, summed) over
    (C, H, W) per sample.

    >>> import torch
    >>> mse(torch.zeros(2, 1, 2, 2), torch.full((2, 1, 2, 2), 0.5), reduction="none")
    tensor([0.2500, 0.2500])
    >>> mse(torch.zeros(2, 1, 2, 2), torch.full((2, 1, 2, 2), 0.5), pixels="sum").item()
    1.0
    """
    _check_pair("mse", pred, target)
    pred = _float(pred)
    diff = pred - target.to(pred.dtype)
    return _reduce(_over_pixels(diff * diff, pixels, "mse"), reduction, "mse")


def mae(
    pred: torch.Tensor,
    target: torch.Tensor,
    reduction: Reduction = "mean",
    pixels: Pixels = "mean",
) -> torch.Tensor:
    """Absolute error of (..., C, H, W) tensors, averaged (or, ``pixels="sum"``, summed) over
    (C, H, W) per sample.

    >>> import torch
    >>> mae(torch.zeros(1, 1, 2, 2), torch.tensor([[[[0.5, -0.5], [0.0, 1.0]]]])).item()
    0.5
    """
    _check_pair("mae", pred, target)
    pred = _float(pred)
    diff = (pred - target.to(pred.dtype)).abs()
    return _reduce(_over_pixels(diff, pixels, "mae"), reduction, "mae")


def psnr(
    pred: torch.Tensor,
    target: torch.Tensor,
    data_range: float = 1.0,
    max_db: float | None = None,
    reduction: Reduction = "mean",
) -> torch.Tensor:
    """Peak signal-to-noise ratio in dB, per sample: 10 log10(data_range^2 / MSE).

    Identical images have MSE 0 and PSNR +inf; the mean over a batch holding one such image
    is then +inf too. Pass ``max_db`` (e.g. 100) to cap each per-sample value first.

    >>> import torch
    >>> x = torch.zeros(1, 1, 2, 2)
    >>> psnr(x, x + 0.1).item()                        # MSE 0.01 -> 20 dB
    20.0
    >>> psnr(x, x).item(), psnr(x, x, max_db=100.0).item()
    (inf, 100.0)
    """
    per_sample = mse(pred, target, reduction="none")
    out = 10.0 * torch.log10(data_range**2 / per_sample)
    if max_db is not None:
        out = out.clamp(max=max_db)
    return _reduce(out, reduction, "psnr")


def _gaussian_window(size: int, sigma: float, dtype, device) -> torch.Tensor:
    x = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-0.5 * (x / sigma) ** 2)
    g = g / g.sum()
    return g.to(dtype=dtype, device=device)


def ssim(
    pred: torch.Tensor,
    target: torch.Tensor,
    data_range: float = 1.0,
    reduction: Reduction = "mean",
    window: Literal["gaussian", "uniform"] = "gaussian",
    win_size: int | None = None,
    sample_covariance: bool = False,
) -> torch.Tensor:
    """Structural similarity (Wang et al. 2004), averaged over channels and pixels.

    By default matches scikit-image's ``structural_similarity(gaussian_weights=True,
    sigma=1.5, use_sample_covariance=False, data_range=data_range)``: an 11 x 11 Gaussian
    window with sigma 1.5 (separable, normalised to sum 1), K1 = 0.01, K2 = 0.03, population
    (not sample) covariances, and only "valid" windows (those wholly inside the image)
    enter the mean. H and W must be at least the window size.

    ``window="uniform"`` (``win_size`` default 7) with ``sample_covariance=True`` (variances
    and covariance times N/(N-1), N = win_size^2) is scikit-image's default
    ``structural_similarity``, the one OpenSTL's metrics call (see
    :data:`vstm.eval.next_frame.OPENSTL_SSIM`).

    Returns:
        Per-sample (...) tensor, or a scalar with ``reduction="mean"``; 1 for identical images.

    >>> import torch
    >>> x = torch.rand(2, 3, 16, 16)
    >>> ssim(x, x).item()
    1.0
    """
    _check_pair("ssim", pred, target)
    if window not in ("gaussian", "uniform"):
        raise VstmError(f"ssim: window must be 'gaussian' or 'uniform', got {window!r}")
    size = win_size or (11 if window == "gaussian" else 7)
    if size < 2 or size % 2 != 1:
        raise VstmError(f"ssim: win_size must be odd and >= 3, got {size}")
    *lead, c, h, w = pred.shape
    if h < size or w < size:
        raise ShapeError(f"ssim: images must be at least {size}x{size}, got {h}x{w}")
    x = _float(pred).reshape(-1, c, h, w)
    y = target.to(x.dtype).reshape(-1, c, h, w)
    if window == "gaussian":
        g = _gaussian_window(size, 1.5, x.dtype, x.device)
    else:
        g = torch.full((size,), 1.0 / size, dtype=x.dtype, device=x.device)
    wy = g.view(1, 1, size, 1).expand(5 * c, 1, size, 1)
    wx = g.view(1, 1, 1, size).expand(5 * c, 1, 1, size)
    # (N, 5C, H, W): the five local moments' inputs, filtered in one grouped pass.
    stack = torch.cat((x, y, x * x, y * y, x * y), dim=1)
    m = F.conv2d(F.conv2d(stack, wy, groups=5 * c), wx, groups=5 * c)  # (N, 5C, H-10, W-10)
    mx, my, mxx, myy, mxy = m.split(c, dim=1)
    vx, vy, cxy = mxx - mx * mx, myy - my * my, mxy - mx * my
    if sample_covariance:
        n = size * size
        vx, vy, cxy = (v * (n / (n - 1)) for v in (vx, vy, cxy))
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    s = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    per_sample = s.mean(dim=(-3, -2, -1)).reshape(lead)
    return _reduce(per_sample, reduction, "ssim")


def _check_flow_pair(name: str, flow: torch.Tensor, gt: torch.Tensor, mask) -> None:
    if flow.dim() < 3 or flow.shape[-3] != 2:
        raise ShapeError(f"{name}: expected flow of shape (...,2,H,W), got {tuple(flow.shape)}")
    if flow.shape != gt.shape:
        raise ShapeError(
            f"{name}: flow and gt must have the same shape, "
            f"got {tuple(flow.shape)} and {tuple(gt.shape)}"
        )
    if mask is not None and (mask.dim() != flow.dim() or mask.shape[-3:] != (1, *flow.shape[-2:])):
        raise ShapeError(
            f"{name}: mask must be (...,1,H,W) matching flow {tuple(flow.shape)}, "
            f"got {tuple(mask.shape)}"
        )


def _masked_mean(err: torch.Tensor, mask, reduction: str, name: str) -> torch.Tensor:
    """Average per-pixel ``err`` (..., H, W) over the mask (..., 1, H, W); see :func:`epe`."""
    if mask is None:
        return _reduce(err.mean(dim=(-2, -1)), reduction, name)
    m = torch.broadcast_to(mask[..., 0, :, :].to(torch.bool), err.shape)
    n = m.sum(dim=(-2, -1))
    per_sample = torch.where(m, err, torch.zeros_like(err)).sum(dim=(-2, -1)) / n  # 0/0 = nan
    if reduction == "mean":
        return per_sample.nanmean()
    return _reduce(per_sample, reduction, name)


def epe(
    flow: torch.Tensor,
    gt: torch.Tensor,
    mask: torch.Tensor | None = None,
    reduction: Reduction = "mean",
) -> torch.Tensor:
    """End-point error: the Euclidean distance ||flow - gt||_2 averaged over pixels.

    Args:
        flow, gt: (..., 2, H, W) in the same units (pixels of the same image), channel 0 = x.
        mask: optional bool (..., 1, H, W) (leading dims broadcast); only pixels where it is
            true count. A sample with no true pixel gets NaN with ``reduction="none"`` and is
            left out of the ``"mean"`` (NaN only if every sample is empty).

    >>> import torch
    >>> gt = torch.zeros(1, 2, 1, 2)
    >>> flow = torch.tensor([[[[3.0, 0.0]], [[4.0, 0.0]]]])   # errors 5 and 0
    >>> epe(flow, gt).item(), epe(flow, gt, mask=torch.tensor([[[[True, False]]]])).item()
    (2.5, 5.0)
    """
    _check_flow_pair("epe", flow, gt, mask)
    flow = _float(flow)
    d = flow - gt.to(flow.dtype)
    err = torch.sqrt(d[..., 0, :, :] ** 2 + d[..., 1, :, :] ** 2)  # (..., H, W)
    return _masked_mean(err, mask, reduction, "epe")


def angular_error(
    flow: torch.Tensor,
    gt: torch.Tensor,
    mask: torch.Tensor | None = None,
    reduction: Reduction = "mean",
) -> torch.Tensor:
    """Angular error in degrees (Baker et al. 2011) between the 3-D vectors (u, v, 1).

    The angle is computed as atan2(|a x b|, a . b), which equals the paper's
    arccos(a . b / |a||b|) but stays accurate near 0 (identical flows give exactly 0).
    ``mask`` and ``reduction`` as in :func:`epe`.

    >>> import torch
    >>> gt = torch.zeros(1, 2, 1, 1)
    >>> round(angular_error(gt + torch.tensor([1.0, 0.0]).view(1, 2, 1, 1), gt).item(), 4)
    45.0
    """
    _check_flow_pair("angular_error", flow, gt, mask)
    flow = _float(flow)
    gt = gt.to(flow.dtype)
    u, v = flow[..., 0, :, :], flow[..., 1, :, :]
    ug, vg = gt[..., 0, :, :], gt[..., 1, :, :]
    # a = (u, v, 1), b = (ug, vg, 1)
    cross = torch.stack((v - vg, ug - u, u * vg - v * ug), dim=-1)
    dot = u * ug + v * vg + 1.0
    err = torch.rad2deg(torch.atan2(torch.linalg.vector_norm(cross, dim=-1), dot))
    return _masked_mean(err, mask, reduction, "angular_error")


def flow_to_motion(
    flow: torch.Tensor, scale: int = 2, mode: Literal["nearest", "bilinear"] = "nearest"
) -> torch.Tensor:
    """The model's feature-resolution flow (..., 2, h, w) -> image motion (..., 2, h*s, w*s).

    The model warps its encoder features with ``y[p] = x[p + flow[p]]`` (DESIGN section 2),
    so its flow points from each predicted pixel back to its source: the motion of content
    from frame t to t+1 is about ``-flow``. The encoder halves the resolution, so one feature
    pixel is ``scale`` image pixels. Hence ``motion = -scale * upsample(flow, scale)``.

    ``mode="nearest"`` (default) copies each feature pixel to its scale x scale block, the
    same upsampling the decoder uses; ``"bilinear"`` interpolates (``align_corners=False``,
    feature pixel i centred on image pixel scale*i + (scale-1)/2).

    >>> import torch
    >>> flow = torch.tensor([1.0, -0.5]).view(2, 1, 1)          # reads 1 px right, 0.5 px up
    >>> flow_to_motion(flow)[:, 0, 0].tolist(), tuple(flow_to_motion(flow).shape)
    ([-2.0, 1.0], (2, 2, 2))
    """
    if flow.dim() < 3 or flow.shape[-3] != 2:
        raise ShapeError(
            f"flow_to_motion: expected flow of shape (...,2,h,w), got {tuple(flow.shape)}"
        )
    if mode not in ("nearest", "bilinear"):
        raise VstmError(f"flow_to_motion: mode must be 'nearest' or 'bilinear', got {mode!r}")
    if int(scale) != scale or scale < 1:
        raise VstmError(f"flow_to_motion: scale must be a positive integer, got {scale}")
    *lead, _, h, w = flow.shape
    x = flow.reshape(-1, 2, h, w)
    if scale > 1:
        kwargs = {"align_corners": False} if mode == "bilinear" else {}
        x = F.interpolate(x, scale_factor=scale, mode=mode, **kwargs)
    return (-float(scale) * x).reshape(*lead, 2, h * scale, w * scale)


def roc_auc(scores: torch.Tensor, labels: torch.Tensor) -> float:
    """Area under the ROC curve of ``scores`` separating ``labels`` True from False.

    Computed from rank statistics (Mann-Whitney U): the probability that a random positive
    scores above a random negative, ties counting one half (tied scores get their average
    rank), so a constant score gives exactly 0.5. NaN when either class is empty. Float64.

    Args:
        scores: any shape; labels: bool, the same shape.

    >>> import torch
    >>> roc_auc(torch.tensor([0.1, 0.4, 0.35, 0.8]), torch.tensor([False, False, True, True]))
    0.75
    >>> roc_auc(torch.zeros(4), torch.tensor([False, True, False, True]))
    0.5
    """
    if scores.shape != labels.shape:
        raise ShapeError(
            f"roc_auc: scores and labels must have the same shape, "
            f"got {tuple(scores.shape)} and {tuple(labels.shape)}"
        )
    s = scores.detach().reshape(-1).to(torch.float64)
    y = labels.detach().reshape(-1).to(torch.bool)
    n_pos = int(y.sum())
    n_neg = y.numel() - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    _, inverse, counts = torch.unique(s, return_inverse=True, return_counts=True)  # sorted
    # average 1-based rank of each distinct value: after the smaller ones, the middle of its run
    ends = torch.cumsum(counts, 0).to(torch.float64)
    avg_rank = ends - (counts.to(torch.float64) - 1.0) / 2.0
    rank_sum = float(avg_rank[inverse][y].sum())
    return (rank_sum - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg)


def movers_auc(
    motion: torch.Tensor,
    frame: torch.Tensor,
    next_frame: torch.Tensor,
    threshold: float = 0.05,
    reduction: Reduction = "mean",
) -> torch.Tensor:
    """Label-free check that a motion field finds the movers: ROC AUC of |motion| for change.

    A pixel *changes* when its value moves by more than ``threshold`` between ``frame`` and
    ``next_frame`` (the mean absolute difference over channels, values in [0, 1]); the score
    of a pixel is its motion magnitude. The AUC (:func:`roc_auc`) is the probability that a
    changing pixel has a larger motion than a still one: 1.0 when the flow marks exactly the
    pixels that change, 0.5 for a flow unrelated to change (random or zero). On a static
    camera the pixels that change are the moving objects (and their shadows, flicker and
    noise above ``threshold``), so no labels are needed.

    Both fields live on one grid. With the motion of frame t's content from t to t+1 on
    frame t's grid (DESIGN section 6), the band an object moves into (|motion| wide at its
    leading edge) changes but carries no motion on that grid, and a textured pixel whose
    successor happens to look alike moves without changing; so even the exact motion scores
    a little under 1 (a 24-px textured square moving 1 px per frame: 0.97).

    Args:
        motion: (..., 2, H, W) in pixels (channel 0 = x); only its magnitude is used.
        frame, next_frame: (..., C, H, W) in [0, 1], the same leading dimensions and H, W.
        threshold: change threshold on the channel-mean absolute difference (default 0.05,
            about 13 grey levels: above the noise of compressed video).
        reduction: ``"none"``: per-sample AUC (...), NaN where a frame pair has no changing
            or no still pixel; ``"mean"``: their mean over the samples that have both
            (NaN if none does).

    >>> import torch
    >>> a = torch.zeros(1, 1, 8, 8); b = a.clone(); b[..., 2:4, 2:4] = 1.0
    >>> motion = torch.zeros(1, 2, 8, 8); motion[:, 0, 2:4, 2:4] = 1.0
    >>> movers_auc(motion, a, b).item(), movers_auc(torch.zeros(1, 2, 8, 8), a, b).item()
    (1.0, 0.5)
    """
    if motion.dim() < 3 or motion.shape[-3] != 2:
        raise ShapeError(
            f"movers_auc: expected motion of shape (...,2,H,W), got {tuple(motion.shape)}"
        )
    _check_pair("movers_auc", frame, next_frame)
    if motion.shape[:-3] != frame.shape[:-3] or motion.shape[-2:] != frame.shape[-2:]:
        raise ShapeError(
            f"movers_auc: motion {tuple(motion.shape)} must match frames {tuple(frame.shape)} "
            "in the leading dimensions and H, W"
        )
    if not threshold >= 0:
        raise VstmError(f"movers_auc: threshold must be non-negative, got {threshold}")
    mag = torch.linalg.vector_norm(_float(motion), dim=-3)  # (..., H, W)
    change = (_float(next_frame) - _float(frame)).abs().mean(dim=-3) > threshold  # (..., H, W)
    lead = mag.shape[:-2]
    flat_m = mag.reshape(-1, *mag.shape[-2:])
    flat_c = change.reshape(-1, *change.shape[-2:])
    per = torch.tensor(
        [roc_auc(m, c) for m, c in zip(flat_m, flat_c, strict=True)], dtype=torch.float64
    ).reshape(lead)
    if reduction == "mean":
        return per.nanmean()
    return _reduce(per, reduction, "movers_auc")


# ---------------------------------------------------------------------- segmentation (paper 5.2)
# Segmentation metrics: the paper's Table 2 (per-class, class-average and global accuracy),
# mean IoU, and temporal consistency (label flips between consecutive frames).
#
# Definitions (SegNet, Badrinarayanan et al. 2015, as the paper's Table 2 uses them), from a
# confusion matrix ``cm[true, pred]`` accumulated over every non-void pixel of a test set:
#
# - per-class accuracy of class k: ``cm[k, k] / sum_j cm[k, j]`` (the recall of k);
# - class average: the mean of the per-class accuracies over the classes that occur in the
#   ground truth;
# - global accuracy: ``trace(cm) / sum(cm)``, the fraction of all pixels labelled right;
# - IoU of class k: ``cm[k, k] / (sum_j cm[k, j] + sum_i cm[i, k] - cm[k, k])``; mIoU is its
#   mean over the classes that occur in the ground truth.
#
# Pixels whose ground truth is :data:`VOID` (or any id outside 0..K-1) are left out.

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
