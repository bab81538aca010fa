"""Frames as pictures: float tensors to uint8 images, labelled grids, atomic PNG files."""

from __future__ import annotations

import os

import numpy as np
import torch

from vstm.errors import ShapeError, VstmError
from vstm.io import atomic_path

__all__ = ["image_grid", "save_png", "to_uint8_image"]


def to_uint8_image(x) -> np.ndarray:
    """Turn one frame into an RGB uint8 image (H, W, 3).

    Args:
        x: torch tensor or numpy array, (C, H, W) with C in {1, 3}, or (H, W). Floats are
            read as [0, 1] (clipped, then rounded to 0..255); uint8 is taken as is.
            Grey (C = 1 or 2-D) is repeated to three channels.

    >>> import torch
    >>> to_uint8_image(torch.tensor([[0.0, 0.5, 2.0]])).tolist()
    [[[0, 0, 0], [128, 128, 128], [255, 255, 255]]]
    """
    arr = x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
    if arr.ndim == 2:
        arr = arr[None]
    if arr.ndim != 3 or arr.shape[0] not in (1, 3):
        raise ShapeError(
            f"to_uint8_image: expected shape (C,H,W) with C in {{1,3}} or (H,W), got {arr.shape}"
        )
    if arr.dtype != np.uint8:
        arr = np.rint(np.clip(np.nan_to_num(arr.astype(np.float64)), 0.0, 1.0) * 255.0)
        arr = arr.astype(np.uint8)
    if arr.shape[0] == 1:
        arr = np.repeat(arr, 3, axis=0)
    return np.ascontiguousarray(arr.transpose(1, 2, 0))  # (C,H,W) -> (H,W,C)


def _as_rgb_tile(tile, where: str) -> np.ndarray:
    arr = np.asarray(tile)
    if arr.dtype != np.uint8:
        raise VstmError(
            f"image_grid: {where} is {arr.dtype}, expected uint8; "
            "convert it with to_uint8_image or flow_to_color"
        )
    if arr.ndim == 2:
        arr = np.repeat(arr[..., None], 3, axis=2)
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise ShapeError(f"image_grid: {where}: expected shape (H,W,3) or (H,W), got {arr.shape}")
    return arr


def _text_size(draw, text: str, font) -> tuple[int, int]:
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    return right - left, bottom - top


def image_grid(
    rows: list[list[np.ndarray]],
    pad: int = 2,
    col_titles: list[str] | None = None,
    row_titles: list[str] | None = None,
    bg: int = 255,
) -> np.ndarray:
    """Assemble uint8 tiles (H, W, 3) into one image, with optional titles.

    Rows may have different lengths and tiles different sizes: each column is as wide as
    its widest tile, each row as tall as its tallest, and a tile sits at its cell's top-left
    corner. ``pad`` pixels of ``bg`` separate cells and frame the grid. Column titles go
    above the columns, row titles left of the rows, drawn with PIL's default font in black
    (white on a dark ``bg``).

    Returns:
        uint8 (H_total, W_total, 3).

    >>> import numpy as np
    >>> a, b = np.zeros((4, 6, 3), np.uint8), np.zeros((2, 3, 3), np.uint8)
    >>> image_grid([[a, b], [b]], pad=1).shape        # height 1+4+1+2+1, width 1+6+1+3+1
    (9, 12, 3)
    """
    if not rows or not any(rows):
        raise VstmError("image_grid: no tiles given; pass rows=[[tile, ...], ...]")
    tiles = [
        [_as_rgb_tile(t, f"tile [{i}][{j}]") for j, t in enumerate(r)] for i, r in enumerate(rows)
    ]
    n_cols = max(len(r) for r in tiles)
    if col_titles is not None and len(col_titles) > n_cols:
        raise VstmError(f"image_grid: {len(col_titles)} column titles for {n_cols} columns")
    if row_titles is not None and len(row_titles) > len(tiles):
        raise VstmError(f"image_grid: {len(row_titles)} row titles for {len(tiles)} rows")
    col_w = [max((r[j].shape[1] for r in tiles if j < len(r)), default=0) for j in range(n_cols)]
    row_h = [max((t.shape[0] for t in r), default=0) for r in tiles]

    font = draw = None
    title_h = title_w = 0
    if col_titles or row_titles:
        from PIL import Image, ImageDraw, ImageFont

        font = ImageFont.load_default()
        draw = ImageDraw.Draw(Image.new("RGB", (1, 1)))
        if col_titles:
            title_h = max(_text_size(draw, t, font)[1] for t in col_titles) + pad + 2
            # a column is at least as wide as its title, so titles never overlap
            for j, t in enumerate(col_titles):
                col_w[j] = max(col_w[j], _text_size(draw, t, font)[0] + 2)
        if row_titles:
            title_w = max(_text_size(draw, t, font)[0] for t in row_titles) + pad + 2

    x0 = [title_w + pad + sum(col_w[:j]) + pad * j for j in range(n_cols)]
    y0 = [title_h + pad + sum(row_h[:i]) + pad * i for i in range(len(tiles))]
    out = np.full((y0[-1] + row_h[-1] + pad, x0[-1] + col_w[-1] + pad, 3), bg, np.uint8)
    for i, r in enumerate(tiles):
        for j, t in enumerate(r):
            out[y0[i] : y0[i] + t.shape[0], x0[j] : x0[j] + t.shape[1]] = t

    if font is not None:
        from PIL import Image, ImageDraw

        img = Image.fromarray(out)
        draw = ImageDraw.Draw(img)
        ink = (0, 0, 0) if bg >= 128 else (255, 255, 255)
        for j, text in enumerate(col_titles or []):
            tw, _ = _text_size(draw, text, font)
            draw.text((x0[j] + max(0, (col_w[j] - tw) // 2), pad), text, fill=ink, font=font)
        for i, text in enumerate(row_titles or []):
            _, th = _text_size(draw, text, font)
            draw.text((pad, y0[i] + max(0, (row_h[i] - th) // 2)), text, fill=ink, font=font)
        out = np.asarray(img, dtype=np.uint8).copy()
    return out


def save_png(path: str | os.PathLike, img: np.ndarray) -> None:
    """Write a uint8 image (H, W) or (H, W, 3) to a PNG file, atomically.

    >>> import numpy as np, tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "x.png"
    >>> save_png(p, np.zeros((2, 3, 3), np.uint8)); p.stat().st_size > 0
    True
    """
    from PIL import Image

    arr = np.asarray(img)
    if arr.dtype != np.uint8:
        raise VstmError(
            f"save_png: {path}: image is {arr.dtype}, expected uint8; "
            "convert it with to_uint8_image or flow_to_color"
        )
    if not (arr.ndim == 2 or (arr.ndim == 3 and arr.shape[2] in (3, 4))):
        raise ShapeError(f"save_png: {path}: expected shape (H,W) or (H,W,3), got {arr.shape}")
    with atomic_path(path) as tmp:
        Image.fromarray(np.ascontiguousarray(arr)).save(tmp, format="PNG")
