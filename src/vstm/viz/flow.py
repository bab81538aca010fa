"""Flow pictures and flow files: the Middlebury colour code and the ``.flo`` layout.

The colour code is Baker et al. (2011), "A database and evaluation methodology for optical
flow" (IJCV), the one the paper's figures use: a 55-colour wheel (red-yellow 15, yellow-green
6, green-cyan 4, cyan-blue 11, blue-magenta 13, magenta-red 6) indexed by the flow's
direction, blended towards white as the magnitude falls. This module follows the reference
``computeColor.m`` / ``colorcode.cpp`` step by step.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from vstm.errors import ShapeError, VstmError
from vstm.io import atomic_path

__all__ = ["color_wheel", "color_wheel_legend", "flow_to_color", "read_flo", "write_flo"]

FLO_MAGIC = 202021.25  # the bytes b"PIEH" read as a little-endian float32
_FLO_MAGIC_BYTES = b"PIEH"


def color_wheel() -> np.ndarray:
    """The Middlebury colour wheel: (55, 3) uint8 RGB, starting at pure red.

    >>> wheel = color_wheel()
    >>> wheel.shape, wheel[0].tolist(), wheel[15].tolist(), wheel[21].tolist()
    ((55, 3), [255, 0, 0], [255, 255, 0], [0, 255, 0])
    """
    ry, yg, gc, cb, bm, mr = 15, 6, 4, 11, 13, 6
    wheel = np.zeros((ry + yg + gc + cb + bm + mr, 3), dtype=np.int64)

    def ramp(n: int) -> np.ndarray:
        return np.floor(255 * np.arange(n) / n).astype(np.int64)

    c = 0
    wheel[c : c + ry, 0], wheel[c : c + ry, 1] = 255, ramp(ry)  # red -> yellow
    c += ry
    wheel[c : c + yg, 0], wheel[c : c + yg, 1] = 255 - ramp(yg), 255  # yellow -> green
    c += yg
    wheel[c : c + gc, 1], wheel[c : c + gc, 2] = 255, ramp(gc)  # green -> cyan
    c += gc
    wheel[c : c + cb, 1], wheel[c : c + cb, 2] = 255 - ramp(cb), 255  # cyan -> blue
    c += cb
    wheel[c : c + bm, 2], wheel[c : c + bm, 0] = 255, ramp(bm)  # blue -> magenta
    c += bm
    wheel[c : c + mr, 2], wheel[c : c + mr, 0] = 255 - ramp(mr), 255  # magenta -> red
    return wheel.astype(np.uint8)


def _as_numpy(x, name: str) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().to(torch.float64).numpy()
    if isinstance(x, np.ndarray):
        return x.astype(np.float64, copy=False)
    raise VstmError(f"{name}: expected a torch tensor or numpy array, got {type(x).__name__}")


def _compute_color(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Middlebury ``computeColor``: normalised (u, v) of any shape (...) -> (..., 3) uint8.

    Magnitude <= 1 blends from white (0) to the full wheel colour (1); magnitude > 1 is
    drawn at the full wheel colour darkened by 0.75 (out of range).
    """
    wheel = color_wheel().astype(np.float64) / 255.0
    ncols = wheel.shape[0]
    # -0.0 + 0.0 == +0.0, so that atan2 sees one sign of zero: pure +x is always wheel[0].
    u, v = u + 0.0, v + 0.0
    rad = np.sqrt(u * u + v * v)
    a = np.arctan2(-v, -u) / np.pi  # in [-1, 1]; +x (right) -> -1, +y (down) -> -0.5
    fk = (a + 1.0) / 2.0 * (ncols - 1)  # 0 .. ncols-1
    k0 = np.floor(fk).astype(np.int64)
    k1 = (k0 + 1) % ncols
    f = (fk - k0)[..., None]
    col = (1.0 - f) * wheel[k0] + f * wheel[k1]  # (..., 3)
    r = rad[..., None]
    col = np.where(r <= 1.0, 1.0 - r * (1.0 - col), col * 0.75)
    return np.floor(255.0 * col).astype(np.uint8)


def flow_to_color(flow, max_norm: float | None = None) -> np.ndarray:
    """Colour a flow field with the Middlebury code (Baker et al. 2011).

    Args:
        flow: torch tensor or numpy array, (2, H, W) or (N, 2, H, W). Channel 0 is x
            (positive to the right), channel 1 is y (positive down), as everywhere in vstm.
            To show the *motion* a model predicts, colour
            ``vstm.metrics.flow_to_motion(model_flow)``.
        max_norm: the magnitude drawn at full colour. Default: the largest finite magnitude
            over the whole input (all N frames share one scale, so a sequence stays
            comparable). Magnitudes above ``max_norm`` are drawn darkened (x 0.75).

    Returns:
        uint8 (H, W, 3) for a (2, H, W) input, (N, H, W, 3) for (N, 2, H, W).

    Direction picks the hue: +x (right) is red, +y (down) orange-yellow, -x (left) cyan,
    -y (up) blue-violet. Magnitude picks the saturation: zero flow is white, ``max_norm`` is
    the full wheel colour. A pixel with a NaN or infinite component is unknown flow: it is
    left out of the normalisation and painted black, the Middlebury marking.

    >>> import numpy as np
    >>> flow = np.zeros((2, 1, 3), np.float32)
    >>> flow[0, 0, 1] = 1.0                      # middle pixel moves one pixel right
    >>> flow[1, 0, 2] = np.nan                   # last pixel unknown
    >>> flow_to_color(flow).tolist()
    [[[255, 255, 255], [255, 0, 0], [0, 0, 0]]]
    """
    arr = _as_numpy(flow, "flow_to_color: flow")
    if arr.ndim not in (3, 4) or arr.shape[-3] != 2:
        raise ShapeError(f"flow_to_color: expected shape (2,H,W) or (N,2,H,W), got {arr.shape}")
    if max_norm is not None and not (np.isfinite(max_norm) and max_norm > 0):
        raise VstmError(f"flow_to_color: max_norm must be a positive number, got {max_norm}")
    u, v = arr[..., 0, :, :], arr[..., 1, :, :]
    unknown = ~(np.isfinite(u) & np.isfinite(v))
    u = np.where(unknown, 0.0, u)
    v = np.where(unknown, 0.0, v)
    if max_norm is None:
        max_norm = float(np.sqrt(u * u + v * v).max(initial=0.0))
    scale = 1.0 / max(max_norm, np.finfo(np.float64).tiny)
    img = _compute_color(u * scale, v * scale)
    img[unknown] = 0
    return img


def color_wheel_legend(size: int = 151) -> np.ndarray:
    """A legend for :func:`flow_to_color`: (size, size, 3) uint8.

    The pixel at offset (dx, dy) from the centre shows the colour of the flow (dx, dy),
    scaled so that the inscribed circle's edge is full colour; outside the circle is white.

    >>> legend = color_wheel_legend(5)
    >>> legend.shape, legend[2, 2].tolist(), legend[2, 4].tolist()
    ((5, 5, 3), [255, 255, 255], [255, 0, 0])
    """
    if size < 3:
        raise VstmError(f"color_wheel_legend: size must be at least 3, got {size}")
    c = (size - 1) / 2.0
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float64)
    u, v = (xs - c) / c, (ys - c) / c  # (H, W) each, in [-1, 1]
    img = _compute_color(u, v)
    img[np.sqrt(u * u + v * v) > 1.0 + 1e-9] = 255
    return img


def write_flo(path: str | os.PathLike, flow) -> None:
    """Write a flow (2, H, W) to a Middlebury ``.flo`` file, atomically.

    Layout: the magic float 202021.25 (the bytes ``PIEH``), int32 width, int32 height, then
    H*W pairs (u, v) row by row, all little-endian 32-bit.
    """
    arr = _as_numpy(flow, f"write_flo: {path}")
    if arr.ndim != 3 or arr.shape[0] != 2:
        raise ShapeError(f"write_flo: {path}: expected flow of shape (2,H,W), got {arr.shape}")
    _, h, w = arr.shape
    header = np.array([FLO_MAGIC], "<f4").tobytes() + np.array([w, h], "<i4").tobytes()
    data = np.ascontiguousarray(arr.transpose(1, 2, 0), dtype="<f4")  # (H, W, 2): u, v
    with atomic_path(path) as tmp:
        tmp.write_bytes(header + data.tobytes())


def read_flo(path: str | os.PathLike) -> np.ndarray:
    """Read a Middlebury ``.flo`` file into a float32 array (2, H, W) (channel 0 = x).

    Raises :class:`VstmError` naming the file if it is missing, has the wrong magic, or
    its size does not match the width and height in its header.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise VstmError(f"{path}: no such .flo file; check the path") from None
    except OSError as e:
        raise VstmError(f"{path}: cannot read .flo file ({e.strerror}); check permissions") from e
    if raw[:4] != _FLO_MAGIC_BYTES:
        raise VstmError(
            f"{path}: not a Middlebury .flo file (magic {raw[:4]!r}, expected b'PIEH'); "
            "pass a file written by write_flo or the Middlebury tools"
        )
    if len(raw) < 12:
        raise VstmError(f"{path}: truncated .flo file (no width/height header); rewrite it")
    w, h = (int(n) for n in np.frombuffer(raw, "<i4", count=2, offset=4))
    if w < 0 or h < 0:
        raise VstmError(f"{path}: corrupt .flo header (width {w}, height {h}); rewrite it")
    expected = 12 + 8 * w * h
    if len(raw) != expected:
        raise VstmError(
            f"{path}: .flo file is {len(raw)} bytes but a {w}x{h} flow needs {expected} "
            "(truncated or corrupt); rewrite it"
        )
    data = np.frombuffer(raw, "<f4", count=2 * w * h, offset=12).reshape(h, w, 2)
    return np.ascontiguousarray(data.transpose(2, 0, 1), dtype=np.float32)
