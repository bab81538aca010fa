"""The paper's warp sanity check (section 5, Figure 2): warp an image by its true displacement.

The paper checks its grid generator and sampler by warping a Sintel frame with the
ground-truth flow and reports a per-pixel error of 0.004 against the true next frame. Here
the same check runs on any image pair with a known dense displacement; the command line
feeds it a rectified stereo pair with the left view's ground-truth disparity (the Middlebury
2006 Aloe pair that OpenCV ships: ``vstm data fetch opencv-samples DIR``).

Stereo geometry: a left-view pixel (x, y) with disparity d shows the scene point that the
right view shows at (x - d, y). In :func:`vstm.warp`'s convention (``y[p] = x[p + flow[p]]``)
the left view is therefore ``warp(right, flow)`` with ``flow = (-d, 0)``, defined on the left
view's grid (:func:`disparity_to_flow`).

Pixels counted ("valid"): the displacement is known (disparity 0 means unknown in Middlebury
files) and ``p + flow[p]`` lies inside the source image, so no sample reads the zero padding.
A second, stricter set also drops the pixels that are occluded in the source view (another
pixel of the same row, nearer to the camera, lands on the same source column); what these
pixels show is not in the source image at all, so no warp can reconstruct them.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vstm.errors import ShapeError, VstmError, check_shape
from vstm.io import atomic_write_text
from vstm.nn import warp
from vstm.system import machine_info
from vstm.viz import color_wheel_legend, flow_to_color, image_grid, save_png, to_uint8_image

__all__ = [
    "PAPER_SINTEL_ERROR",
    "WarpCheckResult",
    "disparity_to_flow",
    "load_stereo",
    "stereo_occlusion",
    "warp_check",
    "warp_check_figure",
    "write_warp_check",
]

PAPER_SINTEL_ERROR = 0.004
"""The per-pixel error the paper reports for its warp on Sintel (section 5)."""


@dataclass(frozen=True)
class WarpCheckResult:
    """Mean absolute errors (pixel values in [0, 1], averaged over channels, then pixels).

    ``error`` compares the warped source with the target, ``identity_error`` the unwarped
    source with the target, both on the same pixels; ``*_visible`` on the valid pixels that
    are not occluded in the source view (equal to the valid ones when no occlusion is given).
    """

    error: float
    identity_error: float
    error_visible: float
    identity_error_visible: float
    valid_fraction: float
    visible_fraction: float
    height: int
    width: int


def disparity_to_flow(disparity: torch.Tensor) -> torch.Tensor:
    """The left view's disparity (H, W) in pixels -> the flow (2, H, W) that warps right to left.

    ``flow[0] = -disparity`` (x), ``flow[1] = 0`` (y), so that ``warp(right, flow)`` reads
    the right view at (x - d, y) (module docstring).

    >>> import torch
    >>> disparity_to_flow(torch.tensor([[2.0, 0.5]])).tolist()
    [[[-2.0, -0.5]], [[0.0, 0.0]]]
    """
    check_shape("disparity_to_flow: disparity", disparity, "H,W")
    d = disparity.to(torch.float32)
    return torch.stack((-d, torch.zeros_like(d)))


def stereo_occlusion(
    disparity: torch.Tensor, known: torch.Tensor, tol: float = 1.0
) -> torch.Tensor:
    """Left-view pixels (H, W) bool whose scene point is hidden in the right view.

    Pixel (x, y) lands on right column u = round(x - d). It is occluded when another known
    pixel of row y with a disparity larger by more than ``tol`` (nearer to the camera) lands
    on the same column u: a z-buffer per row. ``tol`` = 1 absorbs integer-rounded disparities
    on slanted surfaces.

    >>> import torch
    >>> d = torch.tensor([[0.0, 0.0, 2.0, 2.0, 0.0]])   # x=2,3 near (d=2) land on u=0,1
    >>> stereo_occlusion(d, torch.ones_like(d, dtype=torch.bool)).tolist()
    [[True, True, False, False, False]]
    """
    check_shape("stereo_occlusion: disparity", disparity, "H,W")
    h, w = disparity.shape
    d = disparity.to(torch.float32)
    xs = torch.arange(w, dtype=torch.float32).expand(h, w)
    u = torch.round(xs - d).long().clamp(0, w - 1)
    nearest = torch.full((h, w), -float("inf"))
    nearest.scatter_reduce_(1, u, torch.where(known, d, -float("inf")), reduce="amax")
    return known & (nearest.gather(1, u) > d + tol)


def warp_check(
    target: torch.Tensor,
    source: torch.Tensor,
    flow: torch.Tensor,
    known: torch.Tensor,
    occluded: torch.Tensor | None = None,
) -> tuple[WarpCheckResult, torch.Tensor]:
    """Warp ``source`` by ``flow`` with :func:`vstm.warp` and compare it with ``target``.

    Args:
        target: (C, H, W) in [0, 1], the image the warp should reconstruct.
        source: (C, H, W) in [0, 1], the image that is warped.
        flow: (2, H, W) in pixels on target's grid, ``target[p] ≈ source[p + flow[p]]``;
            channel 0 = x (right), channel 1 = y (down).
        known: (H, W) bool, where the flow is known.
        occluded: optional (H, W) bool, pixels whose content is hidden in ``source``.

    Returns:
        (result, warped (C, H, W)).

    >>> import torch
    >>> src = torch.rand(1, 4, 6)
    >>> tgt = torch.zeros_like(src); tgt[..., :5] = src[..., 1:]   # shifted left by one
    >>> flow = torch.zeros(2, 4, 6); flow[0] = 1.0
    >>> r, _ = warp_check(tgt, src, flow, torch.ones(4, 6, dtype=torch.bool))
    >>> r.error < 1e-6 < r.identity_error, round(r.valid_fraction, 4)  # last column: outside
    (True, 0.8333)
    """
    check_shape("warp_check: target", target, "C,H,W")
    if source.shape != target.shape:
        raise ShapeError(
            f"warp_check: source {tuple(source.shape)} must match target {tuple(target.shape)}"
        )
    _, h, w = target.shape
    check_shape("warp_check: flow", flow, f"2,{h},{w}")
    check_shape("warp_check: known", known, f"{h},{w}")
    target, source = target.to(torch.float32), source.to(torch.float32)
    flow = flow.to(torch.float32)
    warped = warp(source[None], flow[None])[0]  # (C, H, W)
    ys, xs = torch.meshgrid(
        torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32), indexing="ij"
    )
    sx, sy = xs + flow[0], ys + flow[1]
    inside = (sx >= 0) & (sx <= w - 1) & (sy >= 0) & (sy <= h - 1)
    valid = known.to(torch.bool) & inside & torch.isfinite(flow).all(dim=0)
    visible = valid if occluded is None else valid & ~occluded.to(torch.bool)
    if not bool(valid.any()):
        raise VstmError(
            "warp_check: no pixel has a known displacement that lands inside the source image"
        )
    err = (warped - target).abs().mean(dim=0)  # (H, W)
    ident = (source - target).abs().mean(dim=0)

    def mean(x: torch.Tensor, m: torch.Tensor) -> float:
        return float(x[m].mean()) if bool(m.any()) else float("nan")

    result = WarpCheckResult(
        error=mean(err, valid),
        identity_error=mean(ident, valid),
        error_visible=mean(err, visible),
        identity_error_visible=mean(ident, visible),
        valid_fraction=float(valid.double().mean()),
        visible_fraction=float(visible.double().mean()),
        height=h,
        width=w,
    )
    return result, warped


def _read_rgb(path: str | os.PathLike) -> torch.Tensor:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            a = np.asarray(im.convert("RGB"), dtype=np.uint8)
    except FileNotFoundError:
        raise VstmError(f"{path}: no such image; check the path") from None
    except (UnidentifiedImageError, OSError) as e:
        raise VstmError(f"{path}: not an image PIL can read ({e})") from e
    return torch.from_numpy(a.copy()).permute(2, 0, 1).float().div_(255.0)  # (3, H, W)


def load_stereo(
    left: str | os.PathLike,
    right: str | os.PathLike,
    disparity: str | os.PathLike,
    disparity_scale: float = 1.0,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Read a rectified stereo pair and the left view's ground-truth disparity image.

    The disparity image holds ``disparity_scale`` x the disparity in pixels of these images,
    0 where unknown: Middlebury 2006 ground truth (full, half and third size alike) stores
    the disparity itself (scale 1); the 2003 quarter-size sets store 4x. The three images
    must have the same size.

    Returns:
        left (3, H, W), right (3, H, W) in [0, 1]; disparity (H, W) float32 in pixels;
        known (H, W) bool.
    """
    from PIL import Image, UnidentifiedImageError

    if not disparity_scale > 0:
        raise VstmError(f"--disparity-scale must be positive, got {disparity_scale}")
    lt, rt = _read_rgb(left), _read_rgb(right)
    try:
        with Image.open(disparity) as im:
            if im.mode not in ("L", "I", "I;16", "P"):
                im = im.convert("L")
            raw = np.asarray(im).astype(np.float32)
    except FileNotFoundError:
        raise VstmError(f"{disparity}: no such disparity image; check the path") from None
    except (UnidentifiedImageError, OSError) as e:
        raise VstmError(f"{disparity}: not an image PIL can read ({e})") from e
    if raw.ndim != 2:
        raise VstmError(f"{disparity}: expected a one-channel disparity image, got {raw.shape}")
    sizes = {
        str(p): tuple(s)
        for p, s in ((left, lt.shape[1:]), (right, rt.shape[1:]), (disparity, raw.shape))
    }
    if len(set(sizes.values())) > 1:
        listing = ", ".join(f"{p}: {w}x{h}" for p, (h, w) in sizes.items())
        raise VstmError(
            f"stereo images and disparity differ in size ({listing}); pass the disparity "
            "image made for these images' resolution"
        )
    d = torch.from_numpy(raw)
    return lt, rt, d / float(disparity_scale), d > 0


def _resize_tile(img: np.ndarray, width: int, nearest: bool = False) -> np.ndarray:
    from PIL import Image

    h, w = img.shape[:2]
    if w <= width:
        return img
    size = (width, max(1, round(h * width / w)))
    method = Image.Resampling.NEAREST if nearest else Image.Resampling.BOX
    return np.asarray(Image.fromarray(img).resize(size, method))


def warp_check_figure(
    source: torch.Tensor,
    flow: torch.Tensor,
    known: torch.Tensor,
    warped: torch.Tensor,
    target: torch.Tensor,
    width: int = 320,
    error_gain: float = 4.0,
) -> np.ndarray:
    """The Figure 2 layout: input | displacement (flow colours) | warped | truth | |error|.

    Args:
        source, warped, target: (C, H, W) in [0, 1].
        flow: (2, H, W) in pixels, drawn in the Middlebury colours (unknown: black).
        known: (H, W) bool.
        width: each tile is shrunk to this width (aspect kept).
        error_gain: the error tile shows ``error_gain`` x |warped - target| in grey.

    Returns:
        uint8 (H', W', 3).
    """

    f = flow.clone()
    f[:, ~known] = float("nan")
    colours = flow_to_color(f)
    err = ((warped - target).abs().mean(dim=0, keepdim=True) * error_gain).clamp(0, 1)
    tiles = [
        _resize_tile(to_uint8_image(source), width),
        _resize_tile(colours, width),
        _resize_tile(to_uint8_image(warped), width),
        _resize_tile(to_uint8_image(target), width),
        _resize_tile(to_uint8_image(err), width),
        color_wheel_legend(min(96, width // 3)),
    ]
    titles = [
        "input (right view)",
        "displacement (GT)",
        "warped input",
        "truth (left view)",
        f"|warped - truth| x{error_gain:g}",
        "colour key",
    ]
    return image_grid([tiles], col_titles=titles)


def _md(path: Path, report: dict[str, Any]) -> None:
    r, m = report["result"], report["machine"]
    lines = [
        "# Warp sanity check (paper section 5, Figure 2)",
        "",
        f"Command: `{report['command']}`",
        "",
        f"- Date: {report['date']}. Machine: {m['cpu']}, {m['logical_cores']} logical cores, "
        f"ISA {m['isa']}; torch {m['torch']}, Python {m['python']}.",
        f"- Inputs: left `{report['left']}`, right `{report['right']}`, disparity "
        f"`{report['disparity']}` (value / {report['disparity_scale']:g} = disparity in pixels, "
        f"0 = unknown), {r['width']}x{r['height']}.",
        "- The left view is reconstructed as `vstm.warp(right, flow)` with flow = (-d, 0) on "
        "the left view's grid (bilinear, zeros outside). Errors are mean absolute differences "
        "of pixel values in [0, 1], averaged over RGB, then over pixels.",
        f"- Valid pixels: disparity known and the sample inside the right image "
        f"({100 * r['valid_fraction']:.1f}% of the image). Visible: valid and not occluded in "
        f"the right view (per-row z-buffer on the disparity; {100 * r['visible_fraction']:.1f}%).",
        "",
        "| pixels | warped vs truth | identity (no warp) vs truth |",
        "|---|--:|--:|",
        f"| valid | {r['error']:.4f} | {r['identity_error']:.4f} |",
        f"| visible in both views | {r['error_visible']:.4f} | {r['identity_error_visible']:.4f} |",
        "",
        f"The paper reports {PAPER_SINTEL_ERROR} for its warp on Sintel (a synthetic rendering "
        "with exact sub-pixel flow, consecutive frames of one camera).",
        "",
        "Figure: `warp_check.png` (input, displacement in the Middlebury colours with unknown "
        "pixels black, warped input, truth, error x4).",
        "",
    ]
    atomic_write_text(path, "\n".join(lines))


def write_warp_check(
    left: str | os.PathLike,
    right: str | os.PathLike,
    disparity: str | os.PathLike,
    out: str | os.PathLike,
    disparity_scale: float = 1.0,
    command: str = "",
) -> dict[str, Any]:
    """Run the check on a stereo pair; write ``warp_check.{json,md,png}`` into ``out``.

    Returns:
        The report written to ``warp_check.json``.
    """

    lt, rt, d, known = load_stereo(left, right, disparity, disparity_scale)
    flow = disparity_to_flow(d)
    occluded = stereo_occlusion(d, known)
    result, warped = warp_check(lt, rt, flow, known, occluded)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    report = {
        "command": command,
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine_info(),
        "left": str(left),
        "right": str(right),
        "disparity": str(disparity),
        "disparity_scale": float(disparity_scale),
        "paper_sintel_error": PAPER_SINTEL_ERROR,
        "result": asdict(result),
    }
    save_png(out / "warp_check.png", warp_check_figure(rt, flow, known, warped, lt))
    atomic_write_text(out / "warp_check.json", json.dumps(report, indent=2) + "\n")
    _md(out / "warp_check.md", report)
    return report
