"""AE-ConvLSTM (paper section 5.1, Figure 4): ConvLSTM temporal encoder and decoder."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch

from vstm.errors import VstmError
from vstm.models.base import Prediction, VideoPredictor
from vstm.nn import ConvLSTMCell, LSTMState, SpatialDecoder, SpatialEncoder
from vstm.ops.spectral import KernelSpectrum

__all__ = ["AEConvLSTM", "AEConvLSTMConfig", "AEConvLSTMState"]

AEConvLSTMState = tuple[LSTMState, LSTMState]
"""((h1, c1), (h2, c2)): temporal encoder (B, d_m, H/2, W/2), temporal decoder (B, d, H/2, W/2)."""


@dataclass(frozen=True)
class AEConvLSTMConfig:
    """Configuration of :class:`AEConvLSTM`; the defaults are the paper's (1,256,305 parameters).

    Attributes:
        in_channels: C, channels per frame.
        enc_channels: d, channels of the spatial features (E's output, the temporal decoder's
            hidden state and D's input).
        hidden_channels: d_m, channels of the temporal encoder's memory.
        enc_kernel, lstm_kernel, dec_kernel: kernel sizes of E, both ConvLSTMs (input and hidden
            paths), and D.
        lstm_impl: how the ConvLSTMs' gate convolutions run over a sequence in ``forward``
            (:data:`vstm.ops.select.ConvImpl`; ``"auto"`` uses the FFT on CPU where it pays,
            ``"direct"`` turns it off). Same parameters; ``step`` always runs direct.
    """

    in_channels: int = 1
    enc_channels: int = 16
    hidden_channels: int = 64
    enc_kernel: int = 7
    lstm_kernel: int = 7
    dec_kernel: int = 7
    lstm_impl: Literal["direct", "fft", "auto"] = "auto"


class AEConvLSTM(VideoPredictor):
    """E -> ConvLSTM (temporal encoder) -> ConvLSTM (temporal decoder) -> D.

    The paper's model without the flow: the decoder ConvLSTM regresses the next frame's
    features directly instead of the flow Θ warping the current ones. One time step::

        x_t = E(Y_t)                        (B, d, H/2, W/2)      conv C->16 7x7, tanh, pool 2
        h1_t, c1_t = ConvLSTM_1(x_t, ...)   (B, d_m, H/2, W/2)    16->64, 7x7
        h2_t, c2_t = ConvLSTM_2(h1_t, ...)  (B, d, H/2, W/2)      64->16, 7x7
        Ỹ_{t+1} = D(h2_t)                   (B, C, H, W)          nearest x2, conv 16->C 7x7

    Parameters with C=1: E 800 + ConvLSTM_1 (16+64)*4*64*49 + 256 = 1,003,776 + ConvLSTM_2
    (64+16)*4*16*49 + 64 = 250,944 + D 785 = 1,256,305, the paper's count. E and D are Xavier
    initialised, the ConvLSTMs as in the paper's section 4.

    >>> import torch
    >>> model = AEConvLSTM(AEConvLSTMConfig())
    >>> out = model(torch.rand(2, 3, 1, 64, 64))
    >>> tuple(out.pred.shape), tuple(out.state[1][0].shape), out.flow is None
    ((2, 3, 1, 64, 64), (2, 16, 32, 32), True)
    """

    name = "ae-convlstm"

    def __init__(self, config: AEConvLSTMConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or AEConvLSTMConfig()
        for field in ("enc_kernel", "lstm_kernel", "dec_kernel"):
            if getattr(config, field) % 2 != 1:
                raise VstmError(f"ae-convlstm config: {field} must be odd")
        self.encoder = SpatialEncoder(config.in_channels, config.enc_channels, config.enc_kernel)
        self.temporal_encoder = ConvLSTMCell(
            config.enc_channels, config.hidden_channels, config.lstm_kernel, config.lstm_impl
        )
        self.temporal_decoder = ConvLSTMCell(
            config.hidden_channels, config.enc_channels, config.lstm_kernel, config.lstm_impl
        )
        self.decoder = SpatialDecoder(config.enc_channels, config.in_channels, config.dec_kernel)

    def _memory(
        self,
        x: torch.Tensor,
        state: AEConvLSTMState | None,
        spectra: tuple[KernelSpectrum | None, KernelSpectrum | None] = (None, None),
    ) -> tuple[torch.Tensor, AEConvLSTMState]:
        """x (B, d, h, w) -> (h2 (B, d, h, w), new state)."""
        s1, s2 = (None, None) if state is None else state
        s1 = self.temporal_encoder(x, s1, spectra[0])
        s2 = self.temporal_decoder(s1[0], s2, spectra[1])
        return s2[0], (s1, s2)

    def forward(self, frames: torch.Tensor, state: AEConvLSTMState | None = None) -> Prediction:
        """Predict every next frame of a sequence.

        Args:
            frames: (B, T, C, H, W), H and W even.
            state: ((h1, c1), (h2, c2)) from a previous call to continue a stream, or None for
                zeros.

        Returns:
            :class:`Prediction` with pred (B, T, C, H, W), flow None and the final state.
        """
        self.check_frames(frames)
        b, t = frames.shape[:2]
        xs = self.encoder(frames.flatten(0, 1)).unflatten(0, (b, t))  # (B, T, d, h, w)
        x0 = xs[:, 0]
        spectra = (self.temporal_encoder.spectrum(x0), self.temporal_decoder.spectrum(x0))
        hs = []
        for i in range(t):
            h, state = self._memory(xs[:, i], state, spectra)
            hs.append(h)
        h = torch.stack(hs, dim=1).flatten(0, 1)  # (B*T, d, h, w)
        return Prediction(self.decoder(h).unflatten(0, (b, t)), None, state)

    def step(
        self, frame: torch.Tensor, state: AEConvLSTMState | None = None
    ) -> tuple[torch.Tensor, None, AEConvLSTMState]:
        """One streaming step.

        Args:
            frame: (B, C, H, W), H and W even.
            state: ((h1, c1), (h2, c2)) or None.

        Returns:
            (pred (B, C, H, W) of the next frame, None, new state).
        """
        self.check_frames(frame, "frame")
        h, state = self._memory(self.encoder(frame), state)
        return self.decoder(h), None, state
