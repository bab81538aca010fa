"""What every video predictor in the registry shares: its output type and input checks."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import torch
from torch import nn

from vstm.errors import ShapeError, VstmError, check_shape

__all__ = ["Outputs", "Prediction", "Rollout", "VideoPredictor", "to_probabilities"]

Outputs = Literal["logits", "values"]
"""What a model's ``pred`` holds: ``"logits"`` when it was trained with BCE (probabilities are
their sigmoid), ``"values"`` when trained with MSE (clamped to [0, 1] to become frames)."""


def to_probabilities(pred: torch.Tensor, outputs: Outputs) -> torch.Tensor:
    """A model's raw ``pred`` (any shape) -> frames in [0, 1]: the one place that decides.

    >>> import torch
    >>> to_probabilities(torch.tensor([0.0, 2.0]), "logits").tolist()[0]
    0.5
    >>> to_probabilities(torch.tensor([-0.5, 1.5]), "values").tolist()
    [0.0, 1.0]
    """
    if outputs == "logits":
        return torch.sigmoid(pred)
    if outputs == "values":
        return pred.clamp(0, 1)
    raise VstmError(f"outputs must be 'logits' or 'values', got {outputs!r}")


def check_horizon(horizon: Any) -> int:
    """``horizon`` as an int >= 1, or a :class:`VstmError` naming the fix."""
    if isinstance(horizon, bool) or not isinstance(horizon, int) or horizon < 1:
        raise VstmError(
            f"horizon must be a whole number of frames >= 1, got {horizon!r}; "
            "ask for at least one predicted frame"
        )
    return horizon


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


@dataclass
class Rollout:
    """A closed-loop forecast (:meth:`VideoPredictor.rollout`).

    Attributes:
        pred: (B, N, C, H, W) frames in [0, 1] (probabilities for BCE-trained models):
            ``pred[:, 0]`` is the one-step prediction of the frame after the context,
            ``pred[:, j]`` the frame j further on, predicted from ``pred[:, :j]`` fed back.
        flow: (B, N, 2, h, w), the flow of every step, or None for models without a flow.
        state: the recurrent state after the last fed-back frame.
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
    motion_upsampling: ClassVar[str] = "nearest"
    """How the model's flow is brought to image resolution for its motion
    (:func:`vstm.metrics.flow_to_motion`'s ``mode``): as its decoder upsamples."""

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

    def iter_rollout(
        self,
        frames: torch.Tensor,
        horizon: int,
        outputs: Outputs = "logits",
        state: Any = None,
        streaming: bool = False,
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor | None, Any]]:
        """A closed-loop forecast as an iterator, one frame at a time (memory constant in N).

        Args:
            frames: (B, K, C, H, W) context, K >= 1.
            horizon: N >= 1 frames to forecast past the last context frame.
            outputs: what ``pred`` holds (see :data:`Outputs`); the fed-back frame is
                :func:`to_probabilities` of it, the same frame that is yielded.
            state: a state to continue from, or None.
            streaming: run the context through ``step`` frame by frame instead of one
                batched ``forward``; the numbers agree up to float rounding.

        Returns:
            An iterator of N triples (frame (B, C, H, W) in [0, 1], flow (B, 2, h, w) or
            None, the state after the step that predicted it).
        """
        horizon = check_horizon(horizon)  # checked now, not at the first next()
        self.check_frames(frames)
        if frames.shape[1] < 1:
            raise VstmError(f"{self.name}: rollout needs at least one context frame")
        return self._rollout_steps(frames, horizon, outputs, state, streaming)

    def _rollout_steps(self, frames, horizon, outputs, state, streaming):
        if streaming:
            for t in range(frames.shape[1]):
                pred, flow, state = self.step(frames[:, t], state)
        else:
            out = self(frames, state)
            pred, state = out.pred[:, -1], out.state
            flow = None if out.flow is None else out.flow[:, -1]
        frame = to_probabilities(pred, outputs)  # (B, C, H, W), the first forecast
        yield frame, flow, state
        for _ in range(horizon - 1):
            pred, flow, state = self.step(frame, state)  # the prediction fed back as input
            frame = to_probabilities(pred, outputs)
            yield frame, flow, state

    def rollout(
        self,
        frames: torch.Tensor,
        horizon: int,
        outputs: Outputs = "logits",
        state: Any = None,
        streaming: bool = False,
    ) -> Rollout:
        """Forecast ``horizon`` frames past the context, feeding each prediction back.

        After the context (B, K, C, H, W), the model's own prediction (in [0, 1], see
        :func:`to_probabilities`) is the next input: no ground truth enters after frame K-1.
        Arguments as in :meth:`iter_rollout`, which this collects; for long horizons iterate
        that instead.

        Returns:
            :class:`Rollout` with pred (B, N, C, H, W), flow (B, N, 2, h, w) or None, state.

        >>> import torch
        >>> from vstm.models import build_model
        >>> model = build_model("ae-convlstm-flow", hidden_channels=8)
        >>> r = model.rollout(torch.rand(2, 3, 1, 16, 16), horizon=4)
        >>> tuple(r.pred.shape), tuple(r.flow.shape)
        ((2, 4, 1, 16, 16), (2, 4, 2, 8, 8))
        """
        steps = list(self.iter_rollout(frames, horizon, outputs, state, streaming))
        preds = torch.stack([p for p, _, _ in steps], dim=1)  # (B, N, C, H, W)
        flows = None if steps[0][1] is None else torch.stack([f for _, f, _ in steps], dim=1)
        return Rollout(preds, flows, steps[-1][2])
