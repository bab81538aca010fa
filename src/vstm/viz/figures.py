"""Figures laid out like the paper's: Figure 5 (inputs | truth | predictions | flow); the
preview grid of data set items (``vstm data preview``)."""

from __future__ import annotations

import os

import numpy as np
import torch

from vstm.viz.flow import color_wheel_legend, flow_to_color
from vstm.viz.frames import image_grid, save_png, to_uint8_image

__all__ = ["draw_figure5", "figure5", "forecast_figure", "preview_image", "sequence_panels"]


def figure5(
    context: torch.Tensor,
    truth: torch.Tensor,
    predictions: dict[str, torch.Tensor],
    motion: torch.Tensor | None = None,
    truth_motion: torch.Tensor | None = None,
    last: int = 4,
    max_norm: float | None = None,
) -> np.ndarray:
    """The paper's Figure 5 layout, one row per sequence.

    Args:
        context: (N, K, C, H, W) input frames in [0, 1]; the last ``last`` are shown (t-3..t).
        truth: (N, C, H, W) ground-truth frame t+1.
        predictions: name -> (N, C, H, W) predicted frame t+1 as probabilities/values in [0, 1].
        motion: (N, 2, H, W) a model's motion t -> t+1 at image resolution, drawn in the
            Middlebury colour code (normalised over the whole figure).
        truth_motion: (N, 2, H, W) optional ground-truth motion, drawn the same way.
        max_norm: the motion magnitude (pixels) drawn at full colour in both motion columns;
            larger ones are drawn darkened. Default: the largest magnitude in the figure.

    Returns:
        uint8 (H', W', 3) image with column titles.
    """

    k = context.shape[1]
    shown = list(range(max(k - last, 0), k))
    titles = [f"t-{k - 1 - i}" if i < k - 1 else "t" for i in shown] + ["truth t+1"]
    titles += list(predictions)
    flows = [m for m in (truth_motion, motion) if m is not None]
    norm = max_norm or max((float(m.norm(dim=1).max()) for m in flows), default=1.0) or 1.0
    if truth_motion is not None:
        titles.append("true motion")
    if motion is not None:
        titles.append("flow")
    rows = []
    for n in range(context.shape[0]):
        row = [to_uint8_image(context[n, i]) for i in shown]
        row.append(to_uint8_image(truth[n]))
        row += [to_uint8_image(p[n]) for p in predictions.values()]
        if truth_motion is not None:
            row.append(flow_to_color(truth_motion[n], max_norm=norm))
        if motion is not None:
            row.append(flow_to_color(motion[n], max_norm=norm))
        rows.append(row)
    return image_grid(rows, col_titles=titles)


def draw_figure5(
    path: str | os.PathLike,
    context: torch.Tensor,
    truth: torch.Tensor,
    predictions: dict[str, torch.Tensor],
    motion: torch.Tensor | None,
    truth_motion: torch.Tensor,
    zoom: int = 2,
) -> None:
    """Figure 5 as a PNG: last 4 inputs | truth t+1 | each prediction | true motion | flow.

    Args:
        path: the PNG to write (atomically).
        context: (N, K, C, H, W) input frames in [0, 1].
        truth: (N, C, H, W) ground-truth frame t+1.
        predictions: column title -> (N, C, H, W) predicted frame t+1 in [0, 1].
        motion: (N, 2, H, W) a model's motion t -> t+1 at image resolution, or None.
        truth_motion: (N, 2, H, W) the true motion t -> t+1.
        zoom: every picture enlarged this many times (nearest neighbour).

    The colour scale is the true motion's largest speed, so that it reads at full colour and
    a learned flow that overshoots it shows darkened rather than washing the truth out.
    """
    import torch.nn.functional as F

    def big(x: torch.Tensor) -> torch.Tensor:  # (N, ..., H, W) -> (N, ..., zH, zW)
        lead = x.shape[:-2]
        y = F.interpolate(x.reshape(-1, 1, *x.shape[-2:]), scale_factor=zoom, mode="nearest")
        return y.reshape(*lead, *y.shape[-2:])

    true_max = float(truth_motion.norm(dim=1).max()) or None
    image = figure5(
        big(context),
        big(truth),
        {k: big(v) for k, v in predictions.items()},
        None if motion is None else big(motion),
        big(truth_motion),
        max_norm=true_max,
    )
    save_png(path, image)


def forecast_figure(
    context: torch.Tensor,
    truth: torch.Tensor,
    forecast: torch.Tensor,
    motion: torch.Tensor | None = None,
) -> np.ndarray:
    """A closed-loop forecast, four rows per sequence: the K inputs, the N true frames, the
    N forecast frames, and the motion of each forecast step (Middlebury colours, one scale
    for the whole figure).

    Args:
        context: (B, K, C, H, W) inputs in [0, 1]; truth, forecast: (B, N, C, H, W) in [0, 1];
        motion: (B, N, 2, H, W) motion of each forecast step at image resolution, or None.

    Returns:
        uint8 (H', W', 3) with row titles ("inputs", "truth", "forecast", "flow") and column
        titles (the input frames 1..K, then the forecast steps t+1..t+N).
    """
    k, n = context.shape[1], truth.shape[1]
    norm = float(motion.norm(dim=2).max()) if motion is not None else 1.0
    rows, titles = [], []
    for b in range(context.shape[0]):
        rows.append([to_uint8_image(context[b, i]) for i in range(k)])
        rows.append([to_uint8_image(truth[b, i]) for i in range(n)])
        rows.append([to_uint8_image(forecast[b, i]) for i in range(n)])
        titles += [f"{b + 1}: inputs", "truth", "forecast"]
        if motion is not None:
            rows.append([flow_to_color(motion[b, i], max_norm=norm or 1.0) for i in range(n)])
            titles.append("flow")
    cols = [f"{i + 1}" for i in range(max(k, n))]
    return image_grid(rows, col_titles=cols, row_titles=titles)


def sequence_panels(
    frames: torch.Tensor, preds: torch.Tensor, motion: torch.Tensor | None, max_norm: float
) -> list[np.ndarray]:
    """Per time step t, a strip [input t | predicted t+1 | motion colour] for a batch stacked
    vertically. frames, preds (N, T, C, H, W) in [0, 1]; motion (N, T, 2, H, W)."""

    out = []
    for t in range(frames.shape[1]):
        rows = []
        for n in range(frames.shape[0]):
            row = [to_uint8_image(frames[n, t]), to_uint8_image(preds[n, t])]
            if motion is not None:
                row.append(flow_to_color(motion[n, t], max_norm=max_norm))
            rows.append(row)
        titles = ["input t", "predicted t+1"] + (["motion t->t+1"] if motion is not None else [])
        out.append(image_grid(rows, col_titles=titles))
    return out


def _zoom(img: np.ndarray, k: int) -> np.ndarray:
    return img if k == 1 else img.repeat(k, axis=0).repeat(k, axis=1)


def preview_image(items: list[dict[str, torch.Tensor]], zoom: int = 1) -> tuple[np.ndarray, float]:
    """The preview grid of data set items: uint8 (H, W, 3) and the motion colour scale.

    Each item adds a row of its frames (T, C, H, W); an item with ``"motion"``
    (T-1, 2, H, W) and ``"mask"`` adds a row of motion colours under frames 0..T-2 (motion
    from t to t+1 sits under frame t), unknown (masked-out) pixels black, and the colour wheel
    under the last frame. All motion shares one scale, returned (pixels per frame at full
    colour; 0.0 if there is no motion).
    """

    motions = [it["motion"] for it in items if "motion" in it]
    norm = max((float(m.norm(dim=-3).max()) for m in motions), default=0.0)
    rows: list[list[np.ndarray]] = []
    titles: list[str] = []
    for i, it in enumerate(items):
        frames = it["frames"]  # (T, C, H, W)
        rows.append([_zoom(to_uint8_image(f), zoom) for f in frames])
        titles.append(f"#{i}")
        if "motion" in it:
            m = it["motion"].clone()  # (T-1, 2, H, W)
            m[~it["mask"].expand_as(m)] = float("nan")  # undefined: black
            colours = flow_to_color(m, max_norm=norm if norm > 0 else 1.0)  # (T-1, H, W, 3)
            h = frames.shape[-2]
            rows.append([_zoom(c, zoom) for c in colours] + [_zoom(color_wheel_legend(h), zoom)])
            titles.append("motion")
    cols = [f"t={t}" for t in range(max(len(r) for r in rows))]
    return image_grid(rows, col_titles=cols, row_titles=titles), norm
