"""AE-ConvLSTM-flow (paper section 3, Figure 1): the spatio-temporal video autoencoder."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch

from vstm.models.base import Prediction, VideoPredictor
from vstm.nn import (
    ConvLSTMCell,
    FlowRegressor,
    LSTMState,
    SpatialDecoder,
    SpatialEncoder,
    inject_smoothness,
    warp,
)

__all__ = ["SETTING_FIELDS", "AEConvLSTMFlow", "AEConvLSTMFlowConfig"]


@dataclass(frozen=True)
class AEConvLSTMFlowConfig:
    """Configuration of :class:`AEConvLSTMFlow`; the defaults are the paper's.

    Attributes:
        in_channels: C, channels per frame (1 grey, 3 colour).
        enc_channels: d, channels of the spatial features x_t.
        hidden_channels: d_m, channels of the ConvLSTM memory.
        enc_kernel, lstm_kernel, flow_kernel, dec_kernel: kernel sizes of E, the ConvLSTM (input
            and hidden paths), the two large layers of Θ, and D.
        smoothness: where the Huber penalty H acts. ``"loss"``: the training task adds
            :func:`vstm.nn.huber_smoothness` of the flow to the loss. ``"inject"``: the paper's
            module H sits in the forward pass (identity) and adds its gradient on backward.
            Both give the same parameter gradients.
        w_h: weight w_H of the smoothness penalty (paper: 1e-2).
        delta: Huber threshold δ (paper: 1e-3).
        flow_impl: how Θ's two large convolutions run; same parameters and, up to float
            rounding, the same numbers. ``"auto"`` (default): on CPU the GEMM form
            (:func:`vstm.ops.gemm.conv2d_same_gemm`) when training and the FFT, its spectrum
            kept between frames, when no gradient is wanted (streaming, evaluation);
            ``F.conv2d`` elsewhere. ``"direct"``, ``"gemm"``, ``"fft"``: always that one
            (:func:`vstm.ops.select.flow_kernel` decides).
        lstm_impl: how the ConvLSTM's gate convolution runs over a sequence in ``forward``
            (:data:`vstm.ops.select.ConvImpl`). ``"auto"`` (default): through the FFT
            (:func:`vstm.ops.spectral.spectral_conv2d`) on CPU for batches of 4 or more at
            frame sizes whose kernel spectrum is small (64x64: 137 MiB), ``F.conv2d``
            otherwise; ``"direct"``: always ``F.conv2d``; ``"fft"``: always the FFT.
            ``step`` always runs direct. Same parameters; the same numbers up to float
            rounding.
    """

    in_channels: int = 1
    enc_channels: int = 16
    hidden_channels: int = 64
    enc_kernel: int = 7
    lstm_kernel: int = 7
    flow_kernel: int = 15
    dec_kernel: int = 7
    smoothness: Literal["loss", "inject"] = "loss"
    w_h: float = 1e-2
    delta: float = 1e-3
    flow_impl: Literal["direct", "gemm", "fft", "auto"] = "auto"
    lstm_impl: Literal["direct", "fft", "auto"] = "auto"


SETTING_FIELDS = frozenset({"smoothness", "w_h", "delta", "flow_impl", "lstm_impl"})
"""Fields of :class:`AEConvLSTMFlowConfig` that change how the model computes or trains, not
its parameters: weights move between configs that differ only in these."""


class AEConvLSTMFlow(VideoPredictor):
    """E -> ConvLSTM -> Θ -> warp(x_t, flow_t) -> D, predicting frame t+1 from frames <= t.

    One time step (DESIGN section 1)::

        x_t = E(Y_t)                     (B, d, H/2, W/2)
        h_t, c_t = ConvLSTM(x_t, h, c)   (B, d_m, H/2, W/2)
        flow_t = Θ(h_t)                  (B, 2, H/2, W/2), pixels of the feature map
        Ỹ_{t+1} = D(warp(x_t, flow_t))   (B, C, H, W)

    ``forward`` runs E, Θ, the warp and D batched over all time steps and only the memory
    step by step (:meth:`vstm.nn.ConvLSTMCell.run`); ``step`` runs one frame and gives the
    same numbers.

    >>> import torch
    >>> model = AEConvLSTMFlow(AEConvLSTMFlowConfig())
    >>> out = model(torch.rand(2, 3, 1, 64, 64))
    >>> tuple(out.pred.shape), tuple(out.flow.shape), bool((out.flow == 0).all())
    ((2, 3, 1, 64, 64), (2, 3, 2, 32, 32), True)
    """

    name = "ae-convlstm-flow"
    has_flow = True

    def __init__(self, config: AEConvLSTMFlowConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or AEConvLSTMFlowConfig()
        if config.smoothness not in ("loss", "inject"):
            raise ValueError(f"smoothness must be 'loss' or 'inject', got {config.smoothness!r}")
        self.encoder = SpatialEncoder(config.in_channels, config.enc_channels, config.enc_kernel)
        self.memory = ConvLSTMCell(
            config.enc_channels, config.hidden_channels, config.lstm_kernel, config.lstm_impl
        )
        self.flow = FlowRegressor(config.hidden_channels, config.flow_kernel, config.flow_impl)
        self.decoder = SpatialDecoder(config.enc_channels, config.in_channels, config.dec_kernel)

    def _flow(self, h: torch.Tensor) -> torch.Tensor:
        flow = self.flow(h)
        if self.config.smoothness == "inject" and torch.is_grad_enabled():
            flow = inject_smoothness(flow, self.config.delta, self.config.w_h)
        return flow

    def forward(self, frames: torch.Tensor, state: LSTMState | None = None) -> Prediction:
        """Predict every next frame of a sequence.

        Args:
            frames: (B, T, C, H, W), H and W even.
            state: (h, c) from a previous call to continue a stream, or None for zeros.

        Returns:
            :class:`Prediction` with pred (B, T, C, H, W), flow (B, T, 2, H/2, W/2) and the
            final (h, c).
        """
        self.check_frames(frames)
        b, t = frames.shape[:2]
        x = self.encoder(frames.flatten(0, 1))  # (B*T, d, h, w)
        xs = x.unflatten(0, (b, t))  # (B, T, d, h, w)
        hs, state = self.memory.run(xs, state)  # (B, T, d_m, h, w); FFT or direct inside
        h = hs.flatten(0, 1)  # (B*T, d_m, h, w)
        flow = self._flow(h)  # (B*T, 2, h, w)
        pred = self.decoder(warp(x, flow))  # (B*T, C, H, W)
        return Prediction(pred.unflatten(0, (b, t)), flow.unflatten(0, (b, t)), state)

    def step(
        self, frame: torch.Tensor, state: LSTMState | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, LSTMState]:
        """One streaming step.

        Args:
            frame: (B, C, H, W), H and W even.
            state: (h, c) or None.

        Returns:
            (pred (B, C, H, W) of the next frame, flow (B, 2, H/2, W/2), new state).
        """
        self.check_frames(frame, "frame")
        x = self.encoder(frame)
        state = self.memory(x, state)
        flow = self._flow(state[0])
        return self.decoder(warp(x, flow)), flow, state
