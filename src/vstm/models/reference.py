"""The paper's AE-ConvLSTM-flow written out plainly: the reference ``vstm bench`` measures the
shipped model against, and that tests check it against (forward and gradients)."""

from __future__ import annotations

import torch
from torch import nn

from vstm.models.ae_convlstm_flow import AEConvLSTMFlow, AEConvLSTMFlowConfig
from vstm.models.base import Prediction, VideoPredictor
from vstm.nn import SpatialDecoder, SpatialEncoder, warp

__all__ = ["NaiveAEConvLSTMFlow"]


class NaiveAEConvLSTMFlow(VideoPredictor):
    """The paper's model written out plainly: the reference the shipped model is measured against.

    Per time step: E on the frame, eq. 1 with eight separate convolutions (x * w_x? with the
    gate bias, h * w_h? without), Θ as three ``nn.Conv2d`` (direct algorithm), the warp and D.
    Same function and parameter count as :class:`vstm.models.AEConvLSTMFlow`;
    :meth:`from_model` copies a model's weights in.

    Shapes: frames (B, T, C, H, W) -> :class:`Prediction` with pred (B, T, C, H, W) and flow
    (B, T, 2, H/2, W/2).

    >>> import torch
    >>> from vstm import build_model
    >>> model = build_model("ae-convlstm-flow", hidden_channels=8, flow_kernel=5)
    >>> naive = NaiveAEConvLSTMFlow.from_model(model)
    >>> frames = torch.rand(1, 2, 1, 8, 8)
    >>> bool(torch.allclose(naive(frames).pred, model(frames).pred, atol=1e-5))
    True
    """

    name = "naive-reference"
    has_flow = True

    def __init__(self, config: AEConvLSTMFlowConfig | None = None) -> None:
        super().__init__()
        self.config = c = config or AEConvLSTMFlowConfig()
        k, pad = c.lstm_kernel, c.lstm_kernel // 2
        self.encoder = SpatialEncoder(c.in_channels, c.enc_channels, c.enc_kernel, "direct")
        self.wx = nn.ModuleList(
            nn.Conv2d(c.enc_channels, c.hidden_channels, k, padding=pad) for _ in range(4)
        )  # gates i, f, g, o
        self.wh = nn.ModuleList(
            nn.Conv2d(c.hidden_channels, c.hidden_channels, k, padding=pad, bias=False)
            for _ in range(4)
        )
        fk = c.flow_kernel
        self.theta = nn.Sequential(
            nn.Conv2d(c.hidden_channels, 2, fk, padding=fk // 2),
            nn.Conv2d(2, 2, fk, padding=fk // 2),
            nn.Conv2d(2, 2, 1),
        )
        # upsample, then convolve: the plain form, not the low-resolution one
        self.decoder = SpatialDecoder(c.enc_channels, c.in_channels, c.dec_kernel, "direct")

    @classmethod
    def from_model(cls, model: AEConvLSTMFlow) -> NaiveAEConvLSTMFlow:
        """A reference holding a copy of ``model``'s weights (split into the eight convolutions)."""
        naive = cls(model.config).to(next(model.parameters()).device)
        c = model.config
        hc, cin = c.hidden_channels, c.enc_channels
        w, b = model.memory.conv.weight, model.memory.conv.bias
        with torch.no_grad():
            naive.encoder.load_state_dict(model.encoder.state_dict())
            naive.decoder.load_state_dict(model.decoder.state_dict())
            for g in range(4):
                naive.wx[g].weight.copy_(w[g * hc : (g + 1) * hc, :cin])
                naive.wx[g].bias.copy_(b[g * hc : (g + 1) * hc])
                naive.wh[g].weight.copy_(w[g * hc : (g + 1) * hc, cin:])
            for mine, theirs in zip(
                naive.theta, (model.flow.conv1, model.flow.conv2, model.flow.conv3), strict=True
            ):
                mine.weight.copy_(theirs.weight)
                mine.bias.copy_(theirs.bias)
        return naive

    def step(self, frame: torch.Tensor, state=None):
        """(B, C, H, W) -> (pred (B, C, H, W), flow (B, 2, H/2, W/2), (h, c))."""
        x = self.encoder(frame)  # (B, d, h, w)
        if state is None:
            z = x.new_zeros(x.shape[0], self.config.hidden_channels, *x.shape[2:])
            state = (z, z)
        h, c = state
        i, f, g, o = (self.wx[k](x) + self.wh[k](h) for k in range(4))
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        flow = self.theta(h)  # (B, 2, h, w)
        return self.decoder(warp(x, flow)), flow, (h, c)

    def forward(self, frames: torch.Tensor, state=None) -> Prediction:
        self.check_frames(frames)
        preds, flows = [], []
        for t in range(frames.shape[1]):
            pred, flow, state = self.step(frames[:, t], state)
            preds.append(pred)
            flows.append(flow)
        return Prediction(torch.stack(preds, 1), torch.stack(flows, 1), state)
