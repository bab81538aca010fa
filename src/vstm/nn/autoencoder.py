"""Spatial encoder E and decoder D (paper 3.1)."""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from vstm.ops.fused import conv_tanh_pool
from vstm.ops.upsample import up2_conv2d

__all__ = [
    "ConvTanhPool2d",
    "ImplConv2d",
    "SpatialDecoder",
    "SpatialEncoder",
    "Up2Conv2d",
    "xavier_init",
]


def xavier_init(conv: nn.Conv2d | nn.Linear) -> None:
    """Xavier-uniform weights and zero bias (paper section 4, non-memory layers)."""
    nn.init.xavier_uniform_(conv.weight)
    if conv.bias is not None:
        nn.init.zeros_(conv.bias)


class ImplConv2d(nn.Conv2d):
    """``nn.Conv2d`` (stride 1, same padding) whose ``forward`` runs the kernel ``impl`` names.

    Same parameters, state dict, hooks and attributes as ``nn.Conv2d`` whatever ``impl`` is;
    subclasses list their choices in ``impls`` (every one offers ``"direct"``, the plain
    form, which is what ``vstm export`` traces).
    """

    impls: tuple[str, ...] = ("direct",)

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, impl: str) -> None:
        if impl not in self.impls:
            raise ValueError(
                f"{type(self).__name__}: impl must be one of {', '.join(self.impls)}, got {impl!r}"
            )
        super().__init__(in_channels, out_channels, kernel_size, padding=kernel_size // 2)
        self.impl = impl

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, impl={self.impl}"


class ConvTanhPool2d(ImplConv2d):
    """A k x k convolution (same padding), tanh and 2x2 max-pool with stride 2, as one module.

    An ``nn.Conv2d`` (same parameters, state dict and hooks; :meth:`conv_numel` tells FLOP
    counters the convolution's own output size) whose ``forward`` also applies the tanh and
    the pooling. ``impl="fused"`` runs the three as one autograd node that pools before the
    tanh (the same values) and keeps a quarter of the memory for backward
    (:func:`vstm.ops.fused.conv_tanh_pool`); ``"direct"`` writes them out plainly.

    Shapes: (N, in, H, W) -> (N, out, H/2, W/2).
    """

    impls = ("fused", "direct")

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        impl: Literal["fused", "direct"] = "fused",
    ) -> None:
        super().__init__(in_channels, out_channels, kernel_size, impl)

    def conv_numel(self, x: torch.Tensor) -> int:
        """Elements of the convolution's output for input x (before the pooling)."""
        return x.shape[0] * self.out_channels * x.shape[-2] * x.shape[-1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        even = x.shape[-1] % 2 == 0 and x.shape[-2] % 2 == 0
        if self.impl == "fused" and even and self.kernel_size[0] % 2 == 1:
            return conv_tanh_pool(x, self.weight, self.bias)
        return F.max_pool2d(torch.tanh(super().forward(x)), 2)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, then tanh and 2x2 max-pool"


class SpatialEncoder(nn.Module):
    """E: conv (k x k, same padding), tanh, 2x2 max-pool with stride 2.

    Shapes: (N, C, H, W) -> (N, d, H/2, W/2); H and W must be even.

    Args:
        impl: ``"fused"`` (default) runs the three as one autograd node that keeps a quarter
            of the memory for backward (:class:`ConvTanhPool2d`); ``"direct"`` writes them
            out plainly. Same parameters either way.
    """

    def __init__(
        self,
        in_channels: int = 1,
        out_channels: int = 16,
        kernel_size: int = 7,
        impl: Literal["fused", "direct"] = "fused",
    ) -> None:
        super().__init__()
        self.conv = ConvTanhPool2d(in_channels, out_channels, kernel_size, impl)
        xavier_init(self.conv)

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        return self.conv(y)


class Up2Conv2d(ImplConv2d):
    """Nearest x2 upsampling then this k x k convolution (same padding), as one module.

    An ``nn.Conv2d`` (same parameters, state dict and hooks; FLOP counters see the
    convolution at the upsampled size, as the paper counts it) whose ``forward`` takes the
    map before upsampling. ``impl="phase"`` computes it at low resolution
    (:func:`vstm.ops.upsample.up2_conv2d`), ``"direct"`` upsamples, then convolves.

    Shapes: (N, in, h, w) -> (N, out, 2h, 2w).
    """

    impls = ("phase", "direct")

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        impl: Literal["phase", "direct"] = "phase",
    ) -> None:
        super().__init__(in_channels, out_channels, kernel_size, impl)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.impl == "phase" and self.kernel_size[0] % 2 == 1:
            return up2_conv2d(x, self.weight, self.bias)
        return super().forward(F.interpolate(x, scale_factor=2, mode="nearest"))

    def extra_repr(self) -> str:
        return f"upsample=2, {super().extra_repr()}"


class SpatialDecoder(nn.Module):
    """D: nearest-neighbour x2 upsampling, conv (k x k, same padding), no output nonlinearity.

    Shapes: (N, d, h, w) -> (N, C, 2h, 2w). The output is logits for a BCE loss or values for
    an MSE loss.

    Args:
        impl: ``"phase"`` (default) computes the same function at the low resolution
            (:func:`vstm.ops.upsample.up2_conv2d`: half the FLOPs, no upsampled map kept for
            backward); ``"direct"`` upsamples, then convolves. Same parameters either way.
    """

    def __init__(
        self,
        in_channels: int = 16,
        out_channels: int = 1,
        kernel_size: int = 7,
        impl: Literal["phase", "direct"] = "phase",
    ) -> None:
        super().__init__()
        self.conv = Up2Conv2d(in_channels, out_channels, kernel_size, impl)
        xavier_init(self.conv)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)
