"""Next-frame evaluation: the metrics of ``vstm eval`` and ``vstm reproduce``."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

import torch

from vstm import metrics
from vstm.models import VideoPredictor, to_probabilities

__all__ = ["EvalResult", "copy_last_predictor", "evaluate_predictor", "model_predictor"]

Predictor = Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor | None]]
"""context frames (B, K, C, H, W) -> (probabilities of frame K (B, C, H, W) in [0, 1],
motion from frame K-1 to K at image resolution (B, 2, H, W) or None)."""

EvalResult = dict[str, float]


def model_predictor(model: VideoPredictor, outputs: str) -> Predictor:
    """Wrap a model: ``outputs`` is ``"logits"`` (trained with BCE) or ``"values"`` (MSE)."""

    @torch.no_grad()
    def predict(context: torch.Tensor):
        out = model(context)
        prob = to_probabilities(out.pred[:, -1].float(), outputs)
        motion = None
        if out.flow is not None:
            scale = context.shape[-1] // out.flow.shape[-1]
            motion = metrics.flow_to_motion(out.flow[:, -1].float(), scale=scale)
        return prob, motion

    return predict


def copy_last_predictor(context: torch.Tensor):
    """The copy-last-frame baseline: frame K is predicted as frame K-1, motion 0."""
    last = context[:, -1]
    b, _, h, w = last.shape
    return last, last.new_zeros(b, 2, h, w)


def evaluate_predictor(
    predictor: Predictor,
    batches: Iterable[dict],
    context: int,
    device: torch.device | str = "cpu",
) -> EvalResult:
    """Score a predictor's frame ``context`` given frames ``0..context-1`` of each sequence.

    Args:
        predictor: see :data:`Predictor`.
        batches: dicts with "frames" (B, T, C, H, W), T > context, and optionally "motion"
            (B, T-1, 2, H, W) and "mask" (B, T-1, 1, H, W) (Moving MNIST ground truth).
        context: K, number of frames fed before the scored prediction.

    Returns:
        Means over all sequences: ``bce`` (per pixel, the paper's Table 1 metric), ``mse``,
        ``psnr`` (dB; capped at 100 for identical frames), ``ssim``, and where ground-truth
        motion exists ``epe`` and ``angular_error`` (degrees) on digit pixels, plus
        ``sequences``.
    """
    sums: dict[str, float] = {}
    counts: dict[str, float] = {}

    def add(name: str, per_sample: torch.Tensor, weight: torch.Tensor | None = None) -> None:
        per_sample = per_sample.double()
        w = torch.ones_like(per_sample) if weight is None else weight.double()
        ok = torch.isfinite(per_sample)
        sums[name] = sums.get(name, 0.0) + float((per_sample[ok] * w[ok]).sum())
        counts[name] = counts.get(name, 0.0) + float(w[ok].sum())

    n = 0
    for batch in batches:
        frames = batch["frames"].to(device)
        if frames.shape[1] <= context:
            raise ValueError(f"sequences of {frames.shape[1]} frames cannot score frame {context}")
        target = frames[:, context].float()
        prob, motion = predictor(frames[:, :context])
        prob = prob.float()
        add("bce", metrics.bce(prob, target, logits=False, reduction="none"))
        add("mse", metrics.mse(prob, target, reduction="none"))
        add("psnr", metrics.psnr(prob, target, max_db=100.0, reduction="none"))
        add("ssim", metrics.ssim(prob, target, reduction="none"))
        if motion is not None and "motion" in batch:
            gt = batch["motion"][:, context - 1].to(device).float()
            mask = batch["mask"][:, context - 1].to(device)
            pixels = mask.flatten(1).sum(1)
            add("epe", metrics.epe(motion, gt, mask, reduction="none"), pixels)
            add("angular_error", metrics.angular_error(motion, gt, mask, reduction="none"), pixels)
        n += frames.shape[0]
    result = {k: sums[k] / counts[k] if counts[k] else math.nan for k in sums}
    result["sequences"] = n
    return result
