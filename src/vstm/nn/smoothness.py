"""Huber penalty H on the flow's spatial gradient (paper 3.2.2, eq. 2).

Two forms that give the same parameter gradients:

- :func:`huber_smoothness`: an explicit loss term, ``w_H * mean(Huber_delta(grad flow))``;
- :func:`inject_smoothness`: the paper's module H, the identity in the forward pass whose
  backward pass adds ``w_H * dH/dflow`` to the incoming gradient.

The gradient of the flow is taken with fixed central-difference stencils, per flow channel
and direction (4 maps for a 2-channel flow), with replicated borders so that a constant flow
has zero gradient everywhere, the border included.
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F

from vstm.errors import check_shape

__all__ = [
    "DEFAULT_DELTA",
    "DEFAULT_W_H",
    "flow_gradient",
    "huber",
    "huber_smoothness",
    "inject_smoothness",
]

DEFAULT_DELTA = 1e-3
DEFAULT_W_H = 1e-2


@functools.lru_cache(maxsize=32)
def _stencils(channels: int, device, dtype) -> torch.Tensor:
    """(2*channels, 1, 3, 3): d/dx then d/dy for each channel, central differences. Built on
    the host once per (channels, device, dtype): a CUDA graph capture refuses the copy, so
    the eager warm-up before it makes it."""
    with torch.inference_mode(False):  # cached: a later training step may save it for backward
        k = torch.zeros(2, 1, 3, 3, dtype=dtype)
        k[0, 0, 1, 0], k[0, 0, 1, 2] = -0.5, 0.5  # d/dx
        k[1, 0, 0, 1], k[1, 0, 2, 1] = -0.5, 0.5  # d/dy
        return k.repeat(channels, 1, 1, 1).to(device)


def flow_gradient(flow: torch.Tensor) -> torch.Tensor:
    """Spatial gradient of a flow map by central differences.

    Args:
        flow: (B, 2, H, W).

    Returns:
        (B, 4, H, W): d(flow_x)/dx, d(flow_x)/dy, d(flow_y)/dx, d(flow_y)/dy.

    >>> import torch
    >>> f = torch.zeros(1, 2, 4, 4); f[:, 0] = torch.arange(4.0)  # flow_x = column index
    >>> flow_gradient(f)[0, 0, 1]
    tensor([0.5000, 1.0000, 1.0000, 0.5000])
    """
    c = flow.shape[1]
    padded = F.pad(flow, (1, 1, 1, 1), mode="replicate")
    return F.conv2d(padded, _stencils(c, flow.device, flow.dtype), groups=c)


def huber(a: torch.Tensor, delta: float = DEFAULT_DELTA) -> torch.Tensor:
    """Element-wise Huber function of eq. 2: a^2/2 for |a| <= delta, else delta(|a| - delta/2).

    This is PyTorch's ``huber_loss`` against zero, unreduced. Under autocast it runs in float32
    (it is on autocast's float32 list), like the other losses.

    >>> import torch
    >>> huber(torch.tensor([0.0005, -0.003]), delta=1e-3)
    tensor([1.2500e-07, 2.5000e-06])
    """
    return F.huber_loss(a, torch.zeros_like(a), reduction="none", delta=delta)


def huber_smoothness(
    flow: torch.Tensor, delta: float = DEFAULT_DELTA, weight: float = DEFAULT_W_H
) -> torch.Tensor:
    """The smoothness penalty as a loss term: ``weight * mean(huber(flow_gradient(flow)))``.

    The mean over gradient elements (not a sum) follows the authors' released module, whose
    injected gradient is divided by the number of flow elements (``sizeAverage``); it keeps
    the weight's meaning independent of batch size, sequence length and frame size, like the
    mean reconstruction loss beside it.

    Args:
        flow: (B, 2, H, W) or (B, T, 2, H, W).

    Returns:
        A scalar tensor.
    """
    if flow.dim() == 5:
        flow = flow.flatten(0, 1)  # (B*T, 2, H, W)
    check_shape("huber_smoothness: flow", flow, "B,2,H,W")
    return weight * huber(flow_gradient(flow), delta).mean()


class _Inject(torch.autograd.Function):
    @staticmethod
    def forward(ctx, flow: torch.Tensor, delta: float, weight: float) -> torch.Tensor:
        ctx.save_for_backward(flow)
        ctx.delta, ctx.weight = delta, weight
        return flow.view_as(flow)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (flow,) = ctx.saved_tensors
        with torch.enable_grad():
            f = flow.detach().requires_grad_(True)
            (g,) = torch.autograd.grad(huber_smoothness(f, ctx.delta, ctx.weight), f)
        return grad + g, None, None


def inject_smoothness(
    flow: torch.Tensor, delta: float = DEFAULT_DELTA, weight: float = DEFAULT_W_H
) -> torch.Tensor:
    """The paper's penalty module H: returns ``flow`` unchanged; its backward pass adds
    ``weight * d huber_smoothness / d flow`` to the gradient flowing back.

    Args:
        flow: (B, 2, H, W) or (B, T, 2, H, W). Returns the same tensor values and shape.
    """
    return _Inject.apply(flow, delta, weight)
