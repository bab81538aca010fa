"""SegNet-flow (paper 5.2, Figure 7): AE-ConvLSTM-flow + a per-frame SegNet + propagation.

One time step::

    Ỹ_{t+1}, flow_t, (h, c) = AE-ConvLSTM-flow(Y_t, (h, c))      next frame and its flow
    Lb_t     = SegNet(Y_t)                                       (B, K, H, W) logits
    L^w_{t-1} = S(softmax(L̃_{t-1}), flow_{t-1})                 warped into frame t (0 at t=0)
    L̃_t      = M(Lb_t, L^w_{t-1})                                (B, K, H, W) logits

The flow that carries frame t-1's labels into frame t is the one produced at step t-1 (it
warps frame t-1 to predict frame t; see :mod:`vstm.nn.propagation`). The model is a
:class:`~vstm.models.VideoPredictor` (registered as ``segnet-flow``): ``forward`` returns a
:class:`SegPrediction`, a :class:`~vstm.models.Prediction` with the segmentation added, and
``step`` streams one frame, its state carrying the memory, L̃_t and flow_t.

Weakly-supervised video segmentation along the learned flow (paper 5.2) lives in these parts:

- the models: :mod:`vstm.models.segnet`, the per-frame segmenter (SegNet style, pooling indices
  reused for unpooling), and this one; the paper's boxes S (labels warped along
  AE-ConvLSTM-flow's flow) and M (the merge block of Figure 7) in :mod:`vstm.nn.propagation`;
- the data, labelled Moving MNIST and the CamVid layout: :mod:`vstm.data.labelled`
  (``vstm.data.build_dataset(..., labels=True)``); the loss:
  :class:`vstm.train.task.SegmentationTask`, trained by the one
  :class:`vstm.train.loop.Trainer` (``TrainConfig(task="segmentation")``);
- Table 2: :mod:`vstm.eval.segmentation`; labelling a video: :mod:`vstm.inference.segmentation`;
  Figure 8 and the label panels: :mod:`vstm.viz.segmentation`; the command line,
  ``vstm segment``: :mod:`vstm.cli.segment`.

S moves labels along the flow, which points back to the source pixel:

>>> import torch
>>> from vstm.nn.propagation import propagate_labels
>>> lab = torch.zeros(1, 1, 4, 4); lab[0, 0, 0, 0] = 1.0
>>> flow = torch.full((1, 2, 2, 2), -0.5)                  # content moves 1 px right and down
>>> propagate_labels(lab, flow)[0, 0].nonzero().tolist()
[[1, 1]]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, NamedTuple

import torch

from vstm.models.ae_convlstm_flow import AEConvLSTMFlow, AEConvLSTMFlowConfig
from vstm.models.base import Prediction, VideoPredictor
from vstm.models.segnet import SegNet, SegNetConfig
from vstm.nn import LSTMState
from vstm.nn.propagation import MergeBlock, propagate_labels

__all__ = ["SegNetFlow", "SegNetFlowConfig", "SegNetFlowState", "SegPrediction"]


@dataclass(frozen=True)
class SegNetFlowConfig:
    """Configuration of :class:`SegNetFlow`.

    Attributes:
        in_channels: C, channels per frame.
        num_classes: K, classes segmented (void is not a class).
        seg_width, seg_depth, seg_convs: the SegNet's size (:class:`SegNetConfig`).
        merge_channels: m, channels of the merge block M.
        enc_channels, hidden_channels, lstm_kernel, flow_kernel, enc_kernel, dec_kernel,
            smoothness, w_h, delta: the AE-ConvLSTM-flow's (:class:`AEConvLSTMFlowConfig`;
            the defaults here are far smaller than the paper's 64-channel, 7x7 memory and
            15x15 flow head so that it trains on a CPU; set hidden_channels=64,
            enc_kernel=7, lstm_kernel=7, flow_kernel=15, dec_kernel=7 for the paper's).
        flow_upsample: how S resizes the flow to the label map.
        detach_flow: stop the segmentation loss from training the flow (default: joint).
    """

    in_channels: int = 1
    num_classes: int = 11
    seg_width: int = 8
    seg_depth: int = 4
    seg_convs: int = 2
    merge_channels: int = 8
    enc_channels: int = 16
    hidden_channels: int = 16
    enc_kernel: int = 5
    lstm_kernel: int = 3
    flow_kernel: int = 7
    dec_kernel: int = 5
    smoothness: Literal["loss", "inject"] = "loss"
    w_h: float = 1e-2
    delta: float = 1e-3
    flow_upsample: Literal["bilinear", "nearest"] = "bilinear"
    detach_flow: bool = False

    def segnet_config(self) -> SegNetConfig:
        return SegNetConfig(
            in_channels=self.in_channels,
            num_classes=self.num_classes,
            width=self.seg_width,
            depth=self.seg_depth,
            convs=self.seg_convs,
        )

    def ae_config(self) -> AEConvLSTMFlowConfig:
        return AEConvLSTMFlowConfig(
            in_channels=self.in_channels,
            enc_channels=self.enc_channels,
            hidden_channels=self.hidden_channels,
            enc_kernel=self.enc_kernel,
            lstm_kernel=self.lstm_kernel,
            flow_kernel=self.flow_kernel,
            dec_kernel=self.dec_kernel,
            smoothness=self.smoothness,
            w_h=self.w_h,
            delta=self.delta,
        )


@dataclass
class SegPrediction(Prediction):
    """:class:`~vstm.models.Prediction` (pred, flow, state) plus the segmentation.

    Attributes:
        seg: (B, T, K, H, W) logits L̃_t of SegNet-flow.
        base: (B, T, K, H, W) logits Lb_t of its per-frame SegNet branch.
    """

    seg: torch.Tensor
    base: torch.Tensor


class SegNetFlowState(NamedTuple):
    """Streaming state after frame t: the ConvLSTM's (h, c), L̃_t (B, K, H, W) logits,
    flow_t (B, 2, h, w), and SegNet's Lb_t (B, K, H, W) (for inspection)."""

    memory: LSTMState | None
    seg: torch.Tensor | None
    flow: torch.Tensor | None
    base: torch.Tensor | None = None


class SegNetFlow(VideoPredictor):
    """Joint next-frame prediction, flow and weakly-supervised segmentation (Figure 7).

    >>> import torch
    >>> m = SegNetFlow(SegNetFlowConfig(num_classes=3, seg_width=4, seg_depth=2,
    ...                                 hidden_channels=8, flow_kernel=5))
    >>> out = m(torch.rand(2, 4, 1, 16, 16))
    >>> [tuple(x.shape) for x in (out.pred, out.flow, out.seg, out.base)]
    [(2, 4, 1, 16, 16), (2, 4, 2, 8, 8), (2, 4, 3, 16, 16), (2, 4, 3, 16, 16)]
    """

    name = "segnet-flow"
    has_flow = True

    def __init__(self, config: SegNetFlowConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or SegNetFlowConfig()
        self.ae = AEConvLSTMFlow(config.ae_config())
        self.segnet = SegNet(config.segnet_config())
        self.merge = MergeBlock(config.num_classes, config.merge_channels)

    @property
    def num_classes(self) -> int:
        return self.config.num_classes

    def _propagate(self, seg_prev: torch.Tensor | None, flow_prev, base: torch.Tensor):
        """L^w_{t-1} = S(softmax(L̃_{t-1}), flow_{t-1}); zeros at t = 0."""
        if seg_prev is None:
            return torch.zeros_like(base)
        if self.config.detach_flow:
            flow_prev = flow_prev.detach()
        return propagate_labels(seg_prev.softmax(dim=1), flow_prev, self.config.flow_upsample)

    def forward(self, frames: torch.Tensor, state: SegNetFlowState | None = None) -> SegPrediction:
        """Predict next frames and flow, and segment every frame of a clip batch.

        Args:
            frames: (B, T, C, H, W), H and W even.
            state: a :class:`SegNetFlowState` to continue a stream, or None.

        Returns:
            :class:`SegPrediction`: pred (B, T, C, H, W) of frames t+1, flow (B, T, 2, H/2,
            W/2), seg and base (B, T, K, H, W) logits, and the state after the last frame.
        """
        self.check_frames(frames)
        memory, seg_prev, flow_prev, _ = state or SegNetFlowState(None, None, None)
        ae = self.ae(frames, memory)  # pred (B, T, C, H, W), flow (B, T, 2, h, w)
        base = self.segnet.segment(frames)  # (B, T, K, H, W), all frames in one batch
        segs = []
        for t in range(frames.shape[1]):
            warped = self._propagate(seg_prev, flow_prev, base[:, t])  # (B, K, H, W)
            seg_prev = self.merge(base[:, t], warped)
            flow_prev = ae.flow[:, t]
            segs.append(seg_prev)
        seg = torch.stack(segs, dim=1)  # (B, T, K, H, W)
        new_state = SegNetFlowState(ae.state, seg_prev, flow_prev, base[:, -1])
        return SegPrediction(ae.pred, ae.flow, new_state, seg=seg, base=base)

    def segment(self, frames: torch.Tensor) -> torch.Tensor:
        """(B, T, C, H, W) frames -> (B, T, K, H, W) logits L̃ (the common segmenter API)."""
        return self(frames).seg

    def step(
        self, frame: torch.Tensor, state: SegNetFlowState | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, SegNetFlowState]:
        """One streaming step.

        Args:
            frame: (B, C, H, W).
            state: the previous step's :class:`SegNetFlowState`, or None.

        Returns:
            (pred (B, C, H, W) of the next frame, flow (B, 2, H/2, W/2), new state); the new
            state's ``seg`` holds L̃_t (B, K, H, W) logits and ``base`` SegNet's Lb_t.
        """
        self.check_frames(frame, "frame")
        memory, seg_prev, flow_prev, _ = state or SegNetFlowState(None, None, None)
        pred, flow, memory = self.ae.step(frame, memory)
        base = self.segnet(frame)
        seg = self.merge(base, self._propagate(seg_prev, flow_prev, base))
        return pred, flow, SegNetFlowState(memory, seg, flow, base)
