"""AE-ConvLSTM-pixelflow: the paper's model with the warp moved to the frame itself.

Beyond the paper (issue 22). The paper warps the encoder's 16 half-resolution feature maps
and decodes them with one 7x7 convolution (3.2.3, 3.1); on real video that decoder's blur is
a floor no motion can lower. Here the same memory and flow regressor drive a warp of the
*frame*, at full resolution, and D only adds a residual (what the warp cannot explain:
disocclusions, brightness change)::

    x_t = E(Y_t)                                (B, d, H/2, W/2)
    h_t, c_t = ConvLSTM(x_t, h, c)              (B, d_m, H/2, W/2)
    flow_t = Θ(h_t)                             (B, 2, H/2, W/2), pixels of the feature map
    F_t = 2 * upsample_bilinear(flow_t)         (B, 2, H, W), image pixels
    Ỹ_{t+1} = warp(Y_t, F_t) + D(warp(x_t, flow_t))

Θ's last layer and D start at zero, so the untrained model copies the last frame exactly
and training can only start from there. The image warp reads the nearest edge pixel outside
the frame (camera motion brings no black border). Outputs are values (an MSE-trained model).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from vstm.models.ae_convlstm_flow import AEConvLSTMFlow, AEConvLSTMFlowConfig
from vstm.models.base import Prediction
from vstm.nn import LSTMState, warp

__all__ = ["AEConvLSTMPixelFlow", "AEConvLSTMPixelFlowConfig", "image_flow"]


@dataclass(frozen=True)
class AEConvLSTMPixelFlowConfig(AEConvLSTMFlowConfig):
    """Configuration of :class:`AEConvLSTMPixelFlow`: the paper's fields, same defaults
    (:class:`vstm.models.AEConvLSTMFlowConfig`), and the same parameter count."""


def image_flow(flow: torch.Tensor) -> torch.Tensor:
    """Feature-resolution flow (N, 2, h, w) -> image flow (N, 2, 2h, 2w), image pixels.

    Bilinear x2 (``align_corners=False``: feature pixel i centred on image pixel 2i + 0.5,
    as the encoder's 2x2 pooling places it), values doubled. Still a backward flow:
    ``warp(Y_t, image_flow(flow))`` reads each predicted pixel from its source in Y_t.

    >>> import torch
    >>> image_flow(torch.ones(1, 2, 3, 3)).unique().tolist()
    [2.0]
    """
    return 2.0 * F.interpolate(flow, scale_factor=2, mode="bilinear", align_corners=False)


class AEConvLSTMPixelFlow(AEConvLSTMFlow):
    """E -> ConvLSTM -> Θ -> warp(Y_t, upsampled flow) + D(warp(x_t, flow)).

    Same modules and parameters as :class:`vstm.models.AEConvLSTMFlow`; only the output
    changes (module docstring). ``flow`` is reported at the feature resolution as for the
    paper's model, so :func:`vstm.metrics.flow_to_motion` and every flow picture apply.

    >>> import torch
    >>> model = AEConvLSTMPixelFlow(AEConvLSTMPixelFlowConfig(hidden_channels=8))
    >>> frames = torch.rand(2, 3, 1, 16, 16)
    >>> bool(torch.allclose(model(frames).pred, frames, atol=1e-5))   # untrained: copy-last
    True
    """

    name = "ae-convlstm-pixelflow"
    motion_upsampling = "bilinear"
    """How its flow reaches image resolution (:func:`vstm.metrics.flow_to_motion`'s mode)."""

    def __init__(self, config: AEConvLSTMPixelFlowConfig | None = None) -> None:
        super().__init__(config or AEConvLSTMPixelFlowConfig())
        for p in self.decoder.parameters():  # D starts as a zero residual
            nn.init.zeros_(p)

    def _predict(self, frame: torch.Tensor, x: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
        """frame (N, C, H, W), x (N, d, h, w), flow (N, 2, h, w) -> Ỹ (N, C, H, W)."""
        moved = warp(frame, image_flow(flow), padding="border")  # (N, C, H, W)
        return moved + self.decoder(warp(x, flow))

    def forward(self, frames: torch.Tensor, state: LSTMState | None = None) -> Prediction:
        """Predict every next frame of a sequence.

        Args:
            frames: (B, T, C, H, W), H and W even.
            state: (h, c) from a previous call to continue a stream, or None for zeros.

        Returns:
            :class:`Prediction` with pred (B, T, C, H, W) values, flow (B, T, 2, H/2, W/2)
            and the final (h, c).
        """
        self.check_frames(frames)
        b, t = frames.shape[:2]
        y = frames.flatten(0, 1)  # (B*T, C, H, W)
        x = self.encoder(y)  # (B*T, d, h, w)
        hs, state = self.memory.run(x.unflatten(0, (b, t)), state)  # (B, T, d_m, h, w)
        flow = self._flow(hs.flatten(0, 1))  # (B*T, 2, h, w)
        pred = self._predict(y, x, flow)  # (B*T, C, H, W)
        return Prediction(pred.unflatten(0, (b, t)), flow.unflatten(0, (b, t)), state)

    def step(
        self, frame: torch.Tensor, state: LSTMState | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, LSTMState]:
        """One streaming step: frame (B, C, H, W) -> (pred (B, C, H, W), flow
        (B, 2, H/2, W/2), new state)."""
        self.check_frames(frame, "frame")
        x = self.encoder(frame)
        state = self.memory(x, state)
        flow = self._flow(state[0])
        return self._predict(frame, x, flow), flow, state
