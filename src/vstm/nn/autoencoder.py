"""Spatial encoder E and decoder D (paper 3.1)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["SpatialDecoder", "SpatialEncoder", "xavier_init"]


def xavier_init(conv: nn.Conv2d | nn.Linear) -> None:
    """Xavier-uniform weights and zero bias (paper section 4, non-memory layers)."""
    nn.init.xavier_uniform_(conv.weight)
    if conv.bias is not None:
        nn.init.zeros_(conv.bias)


class SpatialEncoder(nn.Module):
    """E: conv (k x k, same padding), tanh, 2x2 max-pool with stride 2.

    Shapes: (N, C, H, W) -> (N, d, H/2, W/2); H and W must be even.
    """

    def __init__(self, in_channels: int = 1, out_channels: int = 16, kernel_size: int = 7) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2)
        xavier_init(self.conv)

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        return F.max_pool2d(torch.tanh(self.conv(y)), 2)


class SpatialDecoder(nn.Module):
    """D: nearest-neighbour x2 upsampling, conv (k x k, same padding), no output nonlinearity.

    Shapes: (N, d, h, w) -> (N, C, 2h, 2w). The output is logits for a BCE loss or values for
    an MSE loss.
    """

    def __init__(self, in_channels: int = 16, out_channels: int = 1, kernel_size: int = 7) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2)
        xavier_init(self.conv)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.interpolate(x, scale_factor=2, mode="nearest"))
