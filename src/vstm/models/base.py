"""What every video predictor in the registry shares: its output type and input checks."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import nn

from vstm.errors import ShapeError, check_shape

__all__ = ["Prediction", "VideoPredictor"]


@dataclass
class Prediction:
    """A model's output over a sequence.

    Attributes:
        pred: (B, T, C, H, W); ``pred[:, t]`` predicts frame t+1 from frames <= t. Logits when
            the model is trained with BCE, values when trained with MSE.
        flow: (B, T, 2, h, w) flow at the feature resolution (DESIGN section 2), or None for
            models without a flow.
        state: the recurrent state after the last frame, to continue streaming.
    """

    pred: torch.Tensor
    flow: torch.Tensor | None
    state: Any


class VideoPredictor(nn.Module):
    """Base class of next-frame predictors.

    Subclasses set ``name`` and ``config`` and implement ``forward(frames, state)`` and
    ``step(frame, state)``.
    """

    name: ClassVar[str] = ""
    spatial_multiple: ClassVar[int] = 2
    """Frame height and width must be multiples of this (the encoder pools by 2)."""
    has_flow: ClassVar[bool] = False

    config: Any

    @property
    def in_channels(self) -> int:
        return self.config.in_channels

    def config_dict(self) -> dict:
        return dataclasses.asdict(self.config)

    def check_frames(self, frames: torch.Tensor, what: str = "frames") -> None:
        """Check (B, T, C, H, W) frames (or (B, C, H, W) when ``what`` is 'frame')."""
        pattern = "B,T,C,H,W" if what == "frames" else "B,C,H,W"
        check_shape(f"{self.name}: {what}", frames, pattern)
        c, h, w = frames.shape[-3:]
        if c != self.in_channels:
            raise ShapeError(
                f"{self.name}: expected {self.in_channels} channel(s) per frame, got {c} "
                f"(shape {tuple(frames.shape)}); build the model with in_channels={c} or "
                "convert the frames"
            )
        m = self.spatial_multiple
        if h % m or w % m:
            raise ShapeError(
                f"{self.name}: frame size {h}x{w} must be a multiple of {m} in both directions; "
                "pad or resize the frames"
            )
