"""Next-frame prediction as a training task: a model's predictions in, named losses out."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from vstm.models import Prediction, VideoPredictor
from vstm.nn import huber_smoothness

__all__ = ["LossParts", "NextFrameTask"]


@dataclass
class LossParts:
    total: torch.Tensor
    recon: torch.Tensor
    smooth: torch.Tensor


class NextFrameTask:
    """Eq. 4: reconstruction of every next frame + w_H * Huber smoothness of the flow.

    Args:
        loss: ``"bce"`` (the model outputs logits) or ``"mse"`` (the model outputs values).
        w_h, delta: smoothness weight and Huber threshold; the explicit term is added only for
            models whose config says ``smoothness="loss"`` (with ``"inject"`` the model's own
            module H already puts the same gradient into backward).

    ``__call__(model, frames)`` with frames (B, T, C, H, W) feeds frames[:, :-1] and scores
    pred[:, t] against frames[:, t+1].
    """

    def __init__(self, loss: str = "bce", w_h: float = 1e-2, delta: float = 1e-3) -> None:
        if loss not in ("bce", "mse"):
            raise ValueError(f"loss must be 'bce' or 'mse', got {loss!r}")
        self.loss, self.w_h, self.delta = loss, w_h, delta

    def reconstruction(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        pred = pred.float()
        if self.loss == "bce":
            return F.binary_cross_entropy_with_logits(pred, target)
        return F.mse_loss(pred, target)

    def smoothness(self, model: VideoPredictor, out: Prediction) -> torch.Tensor:
        cfg = getattr(model, "config", None)
        if out.flow is None or getattr(cfg, "smoothness", "loss") != "loss" or self.w_h == 0:
            return out.pred.new_zeros((), dtype=torch.float32)
        return huber_smoothness(out.flow.float(), self.delta, self.w_h)

    def __call__(self, model: torch.nn.Module, frames: torch.Tensor) -> LossParts:
        out: Prediction = model(frames[:, :-1])
        inner = getattr(model, "module", model)  # DDP wraps the model
        recon = self.reconstruction(out.pred, frames[:, 1:])
        smooth = self.smoothness(inner, out)
        return LossParts(recon + smooth, recon.detach(), smooth.detach())
