"""Flow regressor Θ (paper 3.2.2): memory features -> dense flow map.

Θ's two k x k layers run through :func:`vstm.ops.select.same_conv2d`, which picks the kernel
for ``impl`` (on CPU by default the GEMM form :func:`vstm.ops.gemm.conv2d_same_gemm` when
training and the FFT, with the kernel's spectrum kept between frames, when streaming or
evaluating; oneDNN's direct algorithm is slow on these few-channel shapes).
"""

from __future__ import annotations

import torch
from torch import nn

from vstm.nn.autoencoder import ImplConv2d, xavier_init
from vstm.ops.select import FLOW_IMPLS, FlowImpl, flow_kernel, same_conv2d
from vstm.ops.spectral import SpectrumCache

__all__ = ["FlowRegressor", "SameConv2d"]


class SameConv2d(ImplConv2d):
    """``nn.Conv2d`` with odd kernel, stride 1 and same padding, run by GEMMs or the FFT.

    Same parameters, state dict, hooks and attributes as ``nn.Conv2d`` (checkpoints and FLOP
    counting do not see a difference); ``impl`` (:data:`vstm.ops.select.FlowImpl`) only
    chooses how ``forward`` computes (:func:`vstm.ops.select.same_conv2d`). The FFT path keeps
    the kernel's spectrum in a :class:`vstm.ops.spectral.SpectrumCache` (not in the state
    dict) while the weights stay the same.

    Shapes: (N, in, H, W) -> (N, out, H, W).
    """

    impls = FLOW_IMPLS

    def __init__(
        self, in_channels: int, out_channels: int, kernel_size: int, impl: FlowImpl = "auto"
    ) -> None:
        if kernel_size % 2 != 1:
            raise ValueError(f"SameConv2d: kernel_size must be odd, got {kernel_size}")
        super().__init__(in_channels, out_channels, kernel_size, impl)
        self.spectra = SpectrumCache()

    def kernel(self, x: torch.Tensor) -> str:
        """The kernel ``forward(x)`` runs: ``"direct"``, ``"gemm"`` or ``"fft"``
        (:func:`vstm.ops.select.flow_kernel`; asked at call time)."""
        return flow_kernel(self.impl, x, self.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return same_conv2d(x, self.weight, self.bias, self.impl, self.spectra)


class FlowRegressor(nn.Module):
    """Θ: conv hidden->2 (k x k), conv 2->2 (k x k), conv 2->2 (1 x 1); linear, no nonlinearity.

    The last 1x1 layer starts at zero (weights and bias), so an untrained model predicts a
    flow of exactly 0, i.e. the identity warp. Large kernels bound the largest flow the head
    can express (paper 3.2.2).

    Args:
        in_channels: channels of the memory h.
        kernel_size: k of the two large layers (odd).
        impl: how the two k x k layers run (:data:`vstm.ops.select.FlowImpl`); parameters
            are the same.

    Shapes: (N, hidden, h, w) -> (N, 2, h, w), flow in pixels of the h x w map,
    channel 0 = x (right), channel 1 = y (down).

    >>> import torch
    >>> theta = FlowRegressor(8, 5)
    >>> tuple(theta(torch.rand(3, 8, 6, 4)).shape)
    (3, 2, 6, 4)
    """

    def __init__(self, in_channels: int = 64, kernel_size: int = 15, impl: FlowImpl = "auto"):
        super().__init__()
        self.conv1 = SameConv2d(in_channels, 2, kernel_size, impl)
        self.conv2 = SameConv2d(2, 2, kernel_size, impl)
        self.conv3 = nn.Conv2d(2, 2, 1)
        xavier_init(self.conv1)
        xavier_init(self.conv2)
        nn.init.zeros_(self.conv3.weight)
        nn.init.zeros_(self.conv3.bias)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.conv3(self.conv2(self.conv1(h)))
