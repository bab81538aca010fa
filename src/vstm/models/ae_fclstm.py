"""AE-fcLSTM (paper section 5.1, Figure 4): fully-connected LSTMs over flattened feature maps."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from vstm.errors import ShapeError, VstmError
from vstm.models.base import Prediction, VideoPredictor
from vstm.nn import SpatialDecoder, SpatialEncoder

__all__ = ["AEFCLSTM", "AEFCLSTMConfig", "AEFCLSTMState", "FCLSTMCell"]

FCState = tuple[torch.Tensor, torch.Tensor]
"""(h, c), each (B, hidden)."""

AEFCLSTMState = tuple[FCState, FCState]
"""((h1, c1), (h2, c2)): the temporal encoder's (B, hidden_units) and decoder's
(B, dec_channels * H/2 * W/2)."""


class FCLSTMCell(nn.Module):
    """One step of a fully-connected LSTM, the vector twin of :class:`vstm.nn.ConvLSTMCell`.

    ``linear`` maps concat(x_t, h_{t-1}) (B, in + hidden) to the gate pre-activations
    (B, 4*hidden) in the order i, f, g (the candidate c~), o; one bias per gate, no peepholes,
    so it has 4 * hidden * (in + hidden + 1) parameters. Initialisation (paper section 4):
    weights U(-0.08, 0.08), forget-gate bias 1, the other biases 0.

    Shapes:
        x (B, in); state (h, c) each (B, hidden), or None for zeros. Returns the new (h, c).

    >>> import torch
    >>> h, c = FCLSTMCell(5, 3)(torch.rand(2, 5))
    >>> tuple(h.shape), tuple(c.shape)
    ((2, 3), (2, 3))
    """

    def __init__(self, in_features: int, hidden_features: int) -> None:
        super().__init__()
        self.in_features = in_features
        self.hidden_features = hidden_features
        self.linear = nn.Linear(in_features + hidden_features, 4 * hidden_features)
        self.reset_parameters()

    def reset_parameters(self, init_range: float = 0.08) -> None:
        nn.init.uniform_(self.linear.weight, -init_range, init_range)
        with torch.no_grad():
            self.linear.bias.zero_()
            n = self.hidden_features
            self.linear.bias[n : 2 * n].fill_(1.0)  # forget gate

    def forward(self, x: torch.Tensor, state: FCState | None = None) -> FCState:
        if state is None:
            z = x.new_zeros(x.shape[0], self.hidden_features)
            state = (z, z)
        h, c = state
        i, f, g, o = self.linear(torch.cat((x, h), dim=1)).chunk(4, dim=1)  # each (B, hidden)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        return h, c

    def extra_repr(self) -> str:
        return f"{self.in_features}->{self.hidden_features}"


@dataclass(frozen=True)
class AEFCLSTMConfig:
    """Configuration of :class:`AEFCLSTM`; the defaults give 33,641,194 parameters for 64x64
    grey frames, +0.05% from the paper's 33,623,649.

    Attributes:
        in_channels: C, channels per frame.
        frame_height, frame_width: the only frame size the model accepts (the fully-connected
            layers are sized for it); both even.
        enc_channels: d, channels of E's output, flattened to d * H/2 * W/2 features.
        hidden_units: units of the temporal encoder LSTM (the bottleneck).
        dec_channels: channels of the temporal decoder's output reshaped to a (dec_channels,
            H/2, W/2) map for D; the decoder LSTM has dec_channels * H/2 * W/2 units.
        enc_kernel, dec_kernel: kernel sizes of E and D.
    """

    in_channels: int = 1
    frame_height: int = 64
    frame_width: int = 64
    enc_channels: int = 16
    hidden_units: int = 413
    dec_channels: int = 1
    enc_kernel: int = 7
    dec_kernel: int = 7


class AEFCLSTM(VideoPredictor):
    """E -> R -> fc-LSTM (temporal encoder) -> fc-LSTM (temporal decoder) -> R -> D.

    Figure 4's "C T P R LSTM LSTM R U C", resembling Srivastava et al. (2015) but predicting
    one frame. One time step, with the defaults (64x64 grey frames)::

        x_t = E(Y_t)                          (B, 16, 32, 32)   conv 1->16 7x7, tanh, pool 2
        R: x_t.flatten(1)                     (B, 16384)        order (d, H/2, W/2)
        h1_t, c1_t = LSTM_1(x_t, ...)         (B, 413)
        h2_t, c2_t = LSTM_2(h1_t, ...)        (B, 1024)
        R: h2_t.view(B, 1, 32, 32)            (B, 1, 32, 32)
        Ỹ_{t+1} = D(h2_t)                     (B, 1, 64, 64)    nearest x2, conv 1->1 7x7

    The paper gives only the total, 33,623,649. No layout of this family reproduces it
    exactly: a search over a 32x32, 16x16 or 8x8 flattened input, encoder LSTMs of every width
    up to 8192, decoder maps of 1 to 16 channels at 8x8 to 32x32, one or two biases per gate,
    with or without peepholes, finds none. This layout keeps Figure 4's single pooling and
    single unpooling, so the decoder LSTM's output must be a small map (its 4*n^2 recurrent
    weights rule out 16 channels at 32x32): one channel at 32x32. The encoder LSTM's width is
    then the integer that brings the total closest to the paper's:

    - E: 1*16*49 + 16 = 800
    - LSTM_1: 4 * 413 * (16384 + 413 + 1) = 27,750,296
    - LSTM_2: 4 * 1024 * (413 + 1024 + 1) = 5,890,048
    - D: 1*1*49 + 1 = 50
    - total 33,641,194 = paper + 17,545 (+0.052%); 412 units would give 33,568,258 (-0.165%).

    Since its layers are sized for one frame size, frames of another size raise a
    :class:`~vstm.errors.ShapeError`; build it with ``frame_height``/``frame_width`` (and a
    smaller ``hidden_units``) for other sizes.

    >>> import torch
    >>> model = AEFCLSTM(AEFCLSTMConfig(frame_height=16, frame_width=16, hidden_units=32))
    >>> out = model(torch.rand(2, 3, 1, 16, 16))
    >>> tuple(out.pred.shape), tuple(out.state[0][0].shape), tuple(out.state[1][0].shape)
    ((2, 3, 1, 16, 16), (2, 32), (2, 64))
    """

    name = "ae-fclstm"

    def __init__(self, config: AEFCLSTMConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or AEFCLSTMConfig()
        h, w = config.frame_height, config.frame_width
        if h < 2 or w < 2 or h % 2 or w % 2:
            raise VstmError(f"ae-fclstm config: frame size must be even and >= 2, got {h}x{w}")
        for field in ("enc_kernel", "dec_kernel"):
            if getattr(config, field) % 2 != 1:
                raise VstmError(f"ae-fclstm config: {field} must be odd")
        self.feature_shape = (config.enc_channels, h // 2, w // 2)
        self.decoder_shape = (config.dec_channels, h // 2, w // 2)
        n_in = config.enc_channels * (h // 2) * (w // 2)
        n_out = config.dec_channels * (h // 2) * (w // 2)
        self.encoder = SpatialEncoder(config.in_channels, config.enc_channels, config.enc_kernel)
        self.temporal_encoder = FCLSTMCell(n_in, config.hidden_units)
        self.temporal_decoder = FCLSTMCell(config.hidden_units, n_out)
        self.decoder = SpatialDecoder(config.dec_channels, config.in_channels, config.dec_kernel)

    def check_frames(self, frames: torch.Tensor, what: str = "frames") -> None:
        """As :meth:`VideoPredictor.check_frames`, and the frame size must be the config's."""
        super().check_frames(frames, what)
        h, w = frames.shape[-2:]
        eh, ew = self.config.frame_height, self.config.frame_width
        if (h, w) != (eh, ew):
            raise ShapeError(
                f"ae-fclstm: this model's fully-connected layers are sized for {eh}x{ew} "
                f"frames, got {h}x{w}; resize the frames or build it with frame_height={h}, "
                f"frame_width={w}"
            )

    def _memory(
        self, x: torch.Tensor, state: AEFCLSTMState | None
    ) -> tuple[torch.Tensor, AEFCLSTMState]:
        """Features (B, d, H/2, W/2) -> (decoder map (B, dec_channels, H/2, W/2), new state)."""
        s1, s2 = (None, None) if state is None else state
        s1 = self.temporal_encoder(x.flatten(1), s1)  # R: (B, d*H/2*W/2) -> h1 (B, hidden)
        s2 = self.temporal_decoder(s1[0], s2)  # h2 (B, dec*H/2*W/2)
        return s2[0].view(-1, *self.decoder_shape), (s1, s2)  # R: (B, dec, H/2, W/2)

    def forward(self, frames: torch.Tensor, state: AEFCLSTMState | None = None) -> Prediction:
        """Predict every next frame of a sequence.

        Args:
            frames: (B, T, C, H, W) with H, W the config's frame size.
            state: ((h1, c1), (h2, c2)) from a previous call to continue a stream, or None for
                zeros.

        Returns:
            :class:`Prediction` with pred (B, T, C, H, W), flow None and the final state.
        """
        self.check_frames(frames)
        b, t = frames.shape[:2]
        xs = self.encoder(frames.flatten(0, 1)).unflatten(0, (b, t))  # (B, T, d, H/2, W/2)
        maps = []
        for i in range(t):
            m, state = self._memory(xs[:, i], state)
            maps.append(m)
        m = torch.stack(maps, dim=1).flatten(0, 1)  # (B*T, dec, H/2, W/2)
        return Prediction(self.decoder(m).unflatten(0, (b, t)), None, state)

    def step(
        self, frame: torch.Tensor, state: AEFCLSTMState | None = None
    ) -> tuple[torch.Tensor, None, AEFCLSTMState]:
        """One streaming step.

        Args:
            frame: (B, C, H, W) with H, W the config's frame size.
            state: ((h1, c1), (h2, c2)) or None.

        Returns:
            (pred (B, C, H, W) of the next frame, None, new state).
        """
        self.check_frames(frame, "frame")
        m, state = self._memory(self.encoder(frame), state)
        return self.decoder(m), None, state
