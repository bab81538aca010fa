"""Classical next-frame predictors for Table 1: extrapolate optical flow at constant velocity.

Copying the last frame (the zero-motion row) is :func:`vstm.eval.next_frame.copy_last_predictor`.

Conventions (DESIGN section 2): frames are (B, T, C, H, W) float in [0, 1]; a motion field is
(B, 2, H, W) in image pixels, channel 0 = x (right), channel 1 = y (down).

OpenCV is an optional dependency (``pip install 'vstm[baselines]'``), imported only when a
flow method runs.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import torch

from vstm.errors import ShapeError, VstmError, check_shape
from vstm.nn import warp

__all__ = [
    "FLOW_METHODS",
    "estimate_motion",
    "predict_constant_velocity",
]

FlowMethod = Literal["dis", "farneback"]
FLOW_METHODS: tuple[str, ...] = ("dis", "farneback")

# OpenCV's documented example settings (samples/python/opt_flow.py): a 3-level pyramid with
# scale 0.5, a 15x15 averaging window, 3 iterations, polynomial expansion over 5x5 with
# sigma 1.2.
_FARNEBACK = {
    "pyr_scale": 0.5,
    "levels": 3,
    "winsize": 15,
    "iterations": 3,
    "poly_n": 5,
    "poly_sigma": 1.2,
    "flags": 0,
}


def _cv2() -> Any:
    try:
        import cv2
    except ImportError as e:
        raise VstmError(
            "the optical-flow baselines need OpenCV: pip install 'vstm[baselines]'"
        ) from e
    return cv2


def opencv_missing() -> str | None:
    """None when OpenCV imports, else the one-line reason and fix."""
    try:
        _cv2()
    except VstmError as e:
        return str(e)
    return None


def _grey_u8(frames: torch.Tensor) -> np.ndarray:
    """(B, C, H, W) in [0, 1] -> (B, H, W) uint8 grey: luma (BT.601) for C=3, else the mean."""
    x = frames.detach().to("cpu", torch.float32)
    if x.shape[1] == 3:
        w = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
        grey = (x * w).sum(dim=1)
    else:
        grey = x.mean(dim=1)
    return (grey.clamp(0, 1) * 255).round().to(torch.uint8).numpy()


def estimate_motion(
    prev: torch.Tensor, cur: torch.Tensor, method: FlowMethod = "dis"
) -> torch.Tensor:
    """Dense optical flow from ``prev`` to ``cur`` with OpenCV.

    The result is defined on ``prev``'s pixel grid: the content at pixel p of ``prev`` is at
    p + motion[:, :, p] in ``cur`` (OpenCV's ``calc(prev, next)`` convention). So
    ``warp(cur, motion)`` reconstructs ``prev``.

    Methods (frames are converted to 8-bit grey first):

    - ``"dis"``: Dense Inverse Search (Kroeger et al. 2016), ``cv2.DISOpticalFlow_create``
      with the MEDIUM preset, refined down to full resolution (finest scale 0 instead of the
      preset's 1/2: small frames with thin strokes, like Moving MNIST's, lose too much at
      half resolution).
    - ``"farneback"``: polynomial expansion (Farnebäck 2003), ``cv2.calcOpticalFlowFarneback``
      with OpenCV's example settings (3 levels, 15x15 window).

    Args:
        prev, cur: (B, C, H, W) in [0, 1], the same shape.
        method: ``"dis"`` or ``"farneback"``.

    Returns:
        motion (B, 2, H, W) in pixels, channel 0 = x (right), 1 = y (down); float32 on
        ``prev``'s device.
    """
    check_shape("estimate_motion: prev", prev, "B,C,H,W")
    if cur.shape != prev.shape:
        raise ShapeError(
            f"estimate_motion: cur must have prev's shape {tuple(prev.shape)}, "
            f"got {tuple(cur.shape)}"
        )
    if method not in FLOW_METHODS:
        raise VstmError(f"unknown flow method {method!r}; choose one of: {', '.join(FLOW_METHODS)}")
    cv2 = _cv2()
    a, b = _grey_u8(prev), _grey_u8(cur)
    if method == "dis":
        dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
        dis.setFinestScale(0)  # refine down to full resolution (the preset stops at 1/2)
        flows = [dis.calc(a[i], b[i], None) for i in range(len(a))]
    else:
        flows = [
            cv2.calcOpticalFlowFarneback(a[i], b[i], None, **_FARNEBACK) for i in range(len(a))
        ]
    motion = torch.from_numpy(np.stack(flows)).permute(0, 3, 1, 2)  # (B, H, W, 2) -> (B, 2, H, W)
    return motion.to(prev.device).contiguous()


def predict_constant_velocity(
    frames: torch.Tensor, method: FlowMethod = "dis"
) -> tuple[torch.Tensor, torch.Tensor]:
    """Predict frame t+1 by moving frame t with the motion seen between frames t-1 and t.

    The velocity is measured on frame t's grid: ``back = estimate_motion(Y_t, Y_{t-1})`` says
    where each pixel of Y_t was in Y_{t-1}, so the content at q moves by ``motion(q) =
    -back(q)`` per frame. Assuming it keeps that velocity, the prediction backward-warps Y_t::

        Ỹ_{t+1} = warp(Y_t, -motion),   i.e.  Ỹ_{t+1}(p) = Y_t(p - motion(p))

    with :func:`vstm.warp` (bilinear, zeros outside). This is the same relation as the paper
    model's prediction and flow (DESIGN section 2: motion = -flow), so EPE and the prediction
    error are measured the same way for both. A backward warp leaves no holes and no
    collisions; its one approximation is reading the velocity at p on frame t's grid instead
    of frame t+1's, which is exact inside moving regions and errs only within |motion| pixels
    of motion boundaries (forward splatting would be exact there but needs hole filling and
    occlusion ordering). On textureless backgrounds, such as Moving MNIST's, both flow methods
    spread the motion slightly beyond the object, which covers that band.

    Args:
        frames: (B, T, C, H, W) in [0, 1], T >= 2; only the last two frames are used.
        method: ``"dis"`` or ``"farneback"`` (see :func:`estimate_motion`).

    Returns:
        (pred (B, C, H, W) of frame t+1, motion (B, 2, H, W)): the estimated motion of the
        content of frame t from t to t+1, image pixels, channel 0 = x (right), 1 = y (down).
    """
    check_shape("predict_constant_velocity: frames", frames, "B,T,C,H,W")
    if frames.shape[1] < 2:
        raise ShapeError(
            f"predict_constant_velocity: need at least 2 frames (T >= 2), got {tuple(frames.shape)}"
        )
    prev, cur = frames[:, -2], frames[:, -1]
    back = estimate_motion(cur, prev, method).to(cur.dtype)  # (B, 2, H, W) on Y_t's grid
    return warp(cur, back), -back
