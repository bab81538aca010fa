"""Grid generator + bilinear sampler (paper 3.2.3): backward warping with a per-pixel flow."""

from __future__ import annotations

import functools
from typing import Literal

import torch
import torch.nn.functional as F

from vstm.errors import ShapeError, check_shape

__all__ = ["flow_to_grid", "warp"]

_BASE_GRIDS: dict[tuple, torch.Tensor] = {}


def _base_grid(h: int, w: int, device, dtype) -> torch.Tensor:
    """Pixel coordinates (1, H, W, 2), last axis (x, y), cached per size/device/dtype."""
    key = (h, w, str(device), dtype)
    g = _BASE_GRIDS.get(key)
    if g is None:
        ys = torch.arange(h, device=device, dtype=dtype)
        xs = torch.arange(w, device=device, dtype=dtype)
        gy, gx = torch.meshgrid(ys, xs, indexing="ij")
        g = torch.stack((gx, gy), dim=-1).unsqueeze(0)  # (1, H, W, 2)
        if len(_BASE_GRIDS) > 64:
            _BASE_GRIDS.clear()
        _BASE_GRIDS[key] = g
    return g


def flow_to_grid(flow: torch.Tensor) -> torch.Tensor:
    """Turn a pixel flow (B, 2, H, W) into the normalised sampling grid (B, H, W, 2).

    The grid follows ``torch.nn.functional.grid_sample`` with ``align_corners=True``:
    -1 and +1 are the centres of the first and last pixel.
    """
    if torch.onnx.is_in_onnx_export():
        return _flow_to_grid_traceable(flow)
    _b, _, h, w = flow.shape
    pix = _base_grid(h, w, flow.device, flow.dtype) + flow.permute(0, 2, 3, 1)  # (B, H, W, 2)
    scale = device_constant((2.0 / max(w - 1, 1), 2.0 / max(h - 1, 1)), flow.device, flow.dtype)
    return pix * scale - 1.0


@functools.lru_cache(maxsize=64)
def device_constant(
    values: tuple[float, ...], device: torch.device, dtype: torch.dtype
) -> torch.Tensor:
    """``torch.tensor(values)`` on ``device``, made once per (values, device, dtype) and then
    reused: a CUDA graph capture refuses the host-to-device copy, so the eager warm-up before
    it makes the tensor. Made outside inference mode, so a prediction that made it first does
    not keep a later training step from saving it for backward."""
    with torch.inference_mode(False):
        return torch.tensor(values, dtype=dtype).to(device)


def _flow_to_grid_traceable(flow: torch.Tensor) -> torch.Tensor:
    """:func:`flow_to_grid` from tensor ops only, so that an ONNX export keeps H and W
    dynamic (the cached base grid and the Python scale would be frozen into the graph).
    Same numbers up to float rounding (x / (W-1) instead of x * (1 / (W-1)))."""
    ones = torch.ones_like(flow[0, 0])  # (H, W)
    gx = ones.cumsum(dim=1) - 1.0  # (H, W): column index
    gy = ones.cumsum(dim=0) - 1.0  # (H, W): row index
    wm1 = gx[:1, -1:].clamp(min=1.0)  # (1, 1): W - 1, at least 1
    hm1 = gy[-1:, :1].clamp(min=1.0)  # (1, 1): H - 1, at least 1
    px = gx + flow[:, 0]  # (B, H, W)
    py = gy + flow[:, 1]
    return torch.stack((px * 2.0 / wm1 - 1.0, py * 2.0 / hm1 - 1.0), dim=-1)  # (B, H, W, 2)


def warp(
    x: torch.Tensor, flow: torch.Tensor, padding: Literal["zeros", "border"] = "zeros"
) -> torch.Tensor:
    """Backward-warp ``x`` with a dense flow: ``y[p] = x[p + flow[p]]``.

    Conventions (DESIGN section 2):

    - ``x``: (B, C, H, W); ``flow``: (B, 2, H, W), same batch and spatial size, same dtype.
    - The flow is in **pixels of x**; channel 0 is the x (column) offset, positive to the right;
      channel 1 is the y (row) offset, positive down.
    - Pixel centres sit at integer coordinates (``align_corners=True`` semantics): a flow of
      exactly +1 in x reads the right-hand neighbour.
    - Sampling is bilinear; samples outside the map read zeros (each of the four taps outside
      contributes zero, so values fade in across the last pixel), or with
      ``padding="border"`` the nearest edge pixel (for warping whole frames under camera
      motion, where zeros would darken the border).
    - The warp is differentiable with respect to both ``x`` and ``flow``.

    So when a model predicts frame t+1 by warping frame t, its flow points from each pixel of
    t+1 back to its source in t: the motion of content from t to t+1 is about ``-flow``.

    Returns:
        (B, C, H, W) tensor.

    >>> import torch
    >>> x = torch.arange(6.0).view(1, 1, 2, 3)
    >>> flow = torch.zeros(1, 2, 2, 3); flow[:, 0] = 1.0    # read one pixel to the right
    >>> warp(x, flow)[0, 0]
    tensor([[1., 2., 0.],
            [4., 5., 0.]])
    """
    check_shape("warp: x", x, "B,C,H,W")
    check_shape("warp: flow", flow, "B,2,H,W")
    if flow.shape[0] != x.shape[0] or flow.shape[2:] != x.shape[2:]:
        raise ShapeError(
            f"warp: flow must be (B,2,H,W) matching x {tuple(x.shape)} in B, H, W; "
            f"got flow {tuple(flow.shape)}"
        )
    if flow.dtype != x.dtype:
        flow = flow.to(x.dtype)
    if padding not in ("zeros", "border"):
        raise ValueError(f"warp: padding must be 'zeros' or 'border', got {padding!r}")
    grid = flow_to_grid(flow)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode=padding, align_corners=True)
