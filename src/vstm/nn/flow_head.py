"""Flow regressor Θ (paper 3.2.2): memory features -> dense flow map."""

from __future__ import annotations

import torch
from torch import nn

from vstm.nn.autoencoder import xavier_init

__all__ = ["FlowRegressor"]


class FlowRegressor(nn.Module):
    """Θ: conv hidden->2 (k x k), conv 2->2 (k x k), conv 2->2 (1 x 1); linear, no nonlinearity.

    The last 1x1 layer starts at zero (weights and bias), so an untrained model predicts a
    flow of exactly 0, i.e. the identity warp. Large kernels bound the largest flow the head
    can express (paper 3.2.2).

    Shapes: (N, hidden, h, w) -> (N, 2, h, w), flow in pixels of the h x w map,
    channel 0 = x (right), channel 1 = y (down).
    """

    def __init__(self, in_channels: int = 64, kernel_size: int = 15) -> None:
        super().__init__()
        pad = kernel_size // 2
        self.conv1 = nn.Conv2d(in_channels, 2, kernel_size, padding=pad)
        self.conv2 = nn.Conv2d(2, 2, kernel_size, padding=pad)
        self.conv3 = nn.Conv2d(2, 2, 1)
        xavier_init(self.conv1)
        xavier_init(self.conv2)
        nn.init.zeros_(self.conv3.weight)
        nn.init.zeros_(self.conv3.bias)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.conv3(self.conv2(self.conv1(h)))
