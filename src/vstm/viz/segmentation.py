"""Pictures of segmentations: the paper's Figure 8 layout, video panels, consistency curves.

Everything here draws the label maps and numbers it is given; :mod:`vstm.eval.segmentation`
and :mod:`vstm.inference.segmentation` run the segmenters.
"""

from __future__ import annotations

import os

import numpy as np
import torch

from vstm.data.labelled import LabelSet
from vstm.io import atomic_path
from vstm.viz.frames import image_grid, save_png, to_uint8_image

__all__ = ["figure8", "flip_rate_plot", "label_panels", "legend", "write_figure8"]


def _zoom(img: np.ndarray, k: int) -> np.ndarray:
    return img if k == 1 else img.repeat(k, axis=0).repeat(k, axis=1)


def figure8(
    frames: torch.Tensor,
    truth: torch.Tensor,
    predictions: dict[str, torch.Tensor],
    label_set: LabelSet,
    zoom: int = 1,
) -> np.ndarray:
    """The paper's Figure 8: input frame | ground truth | one column per segmenter, and a
    colour legend beside the first row.

    Args:
        frames: (N, C, H, W) input frames in [0, 1], one row each.
        truth: (N, H, W) ground-truth class ids (void drawn in the void colour).
        predictions: column title -> (N, H, W) predicted class ids.
        label_set: class colours.

    Returns:
        uint8 (H', W', 3) with column titles.
    """

    rows = []
    for n in range(frames.shape[0]):
        row = [to_uint8_image(frames[n]), label_set.colorize(truth[n])]
        row += [label_set.colorize(p[n]) for p in predictions.values()]
        rows.append([_zoom(t, zoom) for t in row])
    rows[0].append(legend(label_set))
    return image_grid(rows, col_titles=["input", "ground truth", *predictions, "classes"])


def legend(label_set: LabelSet, swatch: int = 12) -> np.ndarray:
    """A column of colour swatches with class names: uint8 (H, W, 3)."""
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.load_default()
    names = [*label_set.names, label_set.void_name]
    colours = [*(c[0] for c in label_set.colors), label_set.void_color]
    width = swatch + 6 + max(int(font.getlength(n)) for n in names) + 4
    img = Image.new("RGB", (width, (swatch + 3) * len(names) + 3), (255, 255, 255))
    draw = ImageDraw.Draw(img)
    for i, (n, c) in enumerate(zip(names, colours, strict=True)):
        y = 3 + i * (swatch + 3)
        draw.rectangle([2, y, 2 + swatch, y + swatch], fill=tuple(c), outline=(0, 0, 0))
        draw.text((swatch + 6, y), n, fill=(0, 0, 0), font=font)
    return np.asarray(img, dtype=np.uint8).copy()


def label_panels(
    frames: torch.Tensor,
    columns: dict[str, torch.Tensor],
    label_set: LabelSet,
    zoom: int = 1,
) -> list[np.ndarray]:
    """Video frames: per time step, [input | one colour-coded label map per column].

    Args:
        frames: (T, C, H, W) in [0, 1].
        columns: title -> (T, H, W) class ids.
    """

    out = []
    for t in range(frames.shape[0]):
        row = [to_uint8_image(frames[t])] + [label_set.colorize(c[t]) for c in columns.values()]
        out.append(image_grid([[_zoom(x, zoom) for x in row]], col_titles=["input", *columns]))
    return out


def flip_rate_plot(path: str | os.PathLike, rates: dict[str, list[float]], title: str) -> None:
    """Temporal consistency per step: the flip rate (%) between frames t-1 and t where the
    truth is stable, one curve per segmenter, the mean over steps in the legend."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4, 4.0), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    for name, r in rates.items():
        ys = [100.0 * v for v in r]
        mean = float(np.nanmean(ys)) if ys else float("nan")
        ax.plot(range(1, len(ys) + 1), ys, marker="o", label=f"{name} (mean {mean:.2f}%)")
    ax.set_xticks(range(1, max((len(r) for r in rates.values()), default=1) + 1))
    ax.set_xlabel("frame t (label flips between frames t-1 and t)")
    ax.set_ylabel("pixels flipping where the truth does not (%)")
    ax.set_ylim(bottom=0)
    ax.set_title(title, fontsize=10)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")


def write_figure8(
    path: str | os.PathLike,
    frames: torch.Tensor,
    truth: torch.Tensor,
    predictions: dict[str, torch.Tensor],
    label_set: LabelSet,
) -> None:
    """:func:`figure8` written as a PNG, enlarged twice when frames are at most 64 px wide.

    Args:
        frames, truth, predictions: as :func:`figure8` takes them
            (:func:`vstm.eval.segmentation.figure8_columns` computes them from segmenters).
    """

    zoom = 2 if frames.shape[-1] <= 64 else 1
    save_png(path, figure8(frames, truth, predictions, label_set, zoom=zoom))
