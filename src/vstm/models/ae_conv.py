"""AE-Conv (paper section 5.1, Figure 4): a convolutional autoencoder over a window of frames."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from vstm.errors import ShapeError, VstmError
from vstm.models.base import Prediction, VideoPredictor
from vstm.nn import SpatialDecoder, SpatialEncoder, xavier_init

__all__ = ["AEConv", "AEConvConfig"]


@dataclass(frozen=True)
class AEConvConfig:
    """Configuration of :class:`AEConv`; the defaults are the paper's (109,073 parameters).

    Attributes:
        in_channels: C, channels per frame.
        window: K, how many frames (the current one and the K-1 before it) are stacked as input
            channels (paper: the 10 input frames of a Moving MNIST sequence).
        enc_channels: channels of the spatial encoder E (and of the decoder's input).
        mid_channels: channels between the two middle convolutions.
        kernel: kernel size of every convolution.
    """

    in_channels: int = 1
    window: int = 10
    enc_channels: int = 16
    mid_channels: int = 64
    kernel: int = 7


class AEConv(VideoPredictor):
    """Convolutional autoencoder that sees the last K frames as channels (no recurrence).

    One prediction, from the window W_t = (Y_{t-K+1}, ..., Y_t)::

        W_t                              (B, K*C, H, W), oldest frame first, each frame's C
                                         channels together
        x = E(W_t)                       (B, 16, H/2, W/2)    conv K*C->16 7x7, tanh, max-pool 2
        z = tanh(conv(x))                (B, 64, H/2, W/2)    "temporal encoder", conv 16->64 7x7
        x~ = tanh(conv(z))               (B, 16, H/2, W/2)    "temporal decoder", conv 64->16 7x7
        Ỹ_{t+1} = D(x~)                  (B, C, H, W)         nearest x2, conv 16->C 7x7

    It replaces the paper model's memory and flow modules with the two convolution-tanh
    layers. With C=1 and K=10 it has 7,856 + 50,240 + 50,192 + 785 = 109,073 parameters, the
    paper's count. Frames before the start of the sequence are zeros: the prediction from
    frame t < K-1 sees K-1-t zero frames at the front of its window. The streaming state is
    the window itself, the last K frames (B, K, C, H, W).

    >>> import torch
    >>> model = AEConv(AEConvConfig())
    >>> out = model(torch.rand(2, 3, 1, 64, 64))
    >>> tuple(out.pred.shape), tuple(out.state.shape), out.flow is None
    ((2, 3, 1, 64, 64), (2, 10, 1, 64, 64), True)
    """

    name = "ae-conv"

    def __init__(self, config: AEConvConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or AEConvConfig()
        if config.window < 1:
            raise VstmError(f"ae-conv config: window must be >= 1, got {config.window}")
        if config.kernel % 2 != 1:
            raise VstmError(f"ae-conv config: kernel must be odd, got {config.kernel}")
        c, k = config.in_channels, config.kernel
        self.encoder = SpatialEncoder(config.window * c, config.enc_channels, k)
        self.temporal_encoder = nn.Conv2d(
            config.enc_channels, config.mid_channels, k, padding=k // 2
        )
        self.temporal_decoder = nn.Conv2d(
            config.mid_channels, config.enc_channels, k, padding=k // 2
        )
        self.decoder = SpatialDecoder(config.enc_channels, c, k)
        xavier_init(self.temporal_encoder)
        xavier_init(self.temporal_decoder)

    def _predict(self, windows: torch.Tensor) -> torch.Tensor:
        """(N, K*C, H, W) windows -> (N, C, H, W) predictions."""
        x = self.encoder(windows)  # (N, 16, H/2, W/2)
        x = torch.tanh(self.temporal_encoder(x))  # (N, 64, H/2, W/2)
        x = torch.tanh(self.temporal_decoder(x))  # (N, 16, H/2, W/2)
        return self.decoder(x)

    def _check_state(self, state: torch.Tensor, like: torch.Tensor) -> None:
        b, c, h, w = like.shape
        expected = (b, self.config.window, c, h, w)
        if tuple(state.shape) != expected:
            raise ShapeError(
                f"ae-conv: state must be the last {self.config.window} frames {expected}, "
                f"got {tuple(state.shape)}"
            )

    def forward(self, frames: torch.Tensor, state: torch.Tensor | None = None) -> Prediction:
        """Predict every next frame of a sequence.

        Args:
            frames: (B, T, C, H, W), H and W even.
            state: the last K frames (B, K, C, H, W) of a previous call to continue a stream,
                or None: the frames before the sequence are zeros.

        Returns:
            :class:`Prediction` with pred (B, T, C, H, W), flow None and the new state, the
            last K frames (B, K, C, H, W) seen (zeros where the stream is shorter).
        """
        self.check_frames(frames)
        b, t, c, h, w = frames.shape
        k = self.config.window
        if state is None:
            history = frames.new_zeros(b, k - 1, c, h, w)
        else:
            self._check_state(state, frames[:, 0])
            history = state[:, 1:]
        seq = torch.cat((history, frames), dim=1)  # (B, K-1+T, C, H, W)
        windows = seq.unfold(1, k, 1)  # (B, T, C, H, W, K): window of frame t ends at t
        windows = windows.permute(0, 1, 5, 2, 3, 4)  # (B, T, K, C, H, W), oldest first
        pred = self._predict(windows.reshape(b * t, k * c, h, w))  # (B*T, C, H, W)
        return Prediction(pred.unflatten(0, (b, t)), None, seq[:, -k:])

    def step(
        self, frame: torch.Tensor, state: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, None, torch.Tensor]:
        """One streaming step.

        Args:
            frame: (B, C, H, W), H and W even.
            state: the last K frames (B, K, C, H, W), or None for zeros.

        Returns:
            (pred (B, C, H, W) of the next frame, None, the new window (B, K, C, H, W)).
        """
        self.check_frames(frame, "frame")
        if state is None:
            b, c, h, w = frame.shape
            state = frame.new_zeros(b, self.config.window, c, h, w)
        else:
            self._check_state(state, frame)
        state = torch.cat((state[:, 1:], frame.unsqueeze(1)), dim=1)  # (B, K, C, H, W)
        return self._predict(state.flatten(1, 2)), None, state
