"""Learning curves as PNG files (matplotlib, Agg canvas, imported only when a plot is drawn)."""

from __future__ import annotations

import os
from typing import Any

from vstm.errors import VstmError
from vstm.io import atomic_path

__all__ = ["draw_curves", "plot_curves"]


def plot_curves(
    path: str | os.PathLike,
    series: dict[str, tuple[list[float], list[float]]],
    xlabel: str,
    ylabel: str,
    title: str | None = None,
    logy: bool = False,
) -> None:
    """Plot named (x, y) curves on one set of axes and save them as a PNG, atomically.

    Args:
        path: the PNG to write.
        series: ``{"train": (steps, losses), "val": (steps, losses)}``; each x and y list of
            equal length. Empty series are skipped (but at least one must have points).
        xlabel, ylabel, title: axis labels and an optional title.
        logy: logarithmic y axis (non-positive values are then masked by matplotlib).

    Uses matplotlib's object API with an Agg canvas, so it never touches pyplot's global
    backend or needs a display.

    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "loss.png"
    >>> plot_curves(p, {"train": ([1, 2, 3], [0.9, 0.5, 0.4])}, "step", "BCE")
    >>> p.read_bytes()[:4]
    b'\\x89PNG'
    """
    if not series or not any(len(x) for x, _ in series.values()):
        raise VstmError(f"plot_curves: {path}: no data points to plot; pass non-empty series")
    for name, (xs, ys) in series.items():
        if len(xs) != len(ys):
            raise VstmError(
                f"plot_curves: {path}: series {name!r} has {len(xs)} x values "
                f"but {len(ys)} y values; pass equal-length lists"
            )

    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.0, 4.0), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    for name, (xs, ys) in series.items():
        if len(xs):
            ax.plot(list(xs), list(ys), label=name, marker="." if len(xs) < 30 else None)
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")


def draw_curves(
    path: str | os.PathLike,
    runs: dict[str, tuple[list[dict[str, Any]], list[dict[str, Any]], int]],
    title: str,
) -> None:
    """Learning curves of several runs in two panels, saved as a PNG (atomically).

    Args:
        path: the PNG to write.
        runs: legend label -> (train rows, validation rows, batch size), the rows as
            :func:`vstm.train.metrics_log.read_metrics` reads them from ``metrics.jsonl``
            (train: ``step``, ``elapsed_s``, ``recon``; validation: ``step``, ``val_loss``).
        title: the figure's title.

    Left: the training reconstruction BCE (per pixel, mean over the next-frame predictions
    of a clip; thin: as logged, thick: moving average) against training sequences seen, log-log,
    the axis on which a power-law slope can be read off and extrapolated. Right: the
    validation loss (the same clips' loss plus w_H H on held-out train-pool sequences) against
    training minutes (optimiser steps only), the axis of a ``--budget-minutes`` run. Runs
    without training rows are left out; with none at all, the panels say so.
    """
    import numpy as np
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11.0, 4.2), dpi=100)
    FigureCanvasAgg(fig)
    ax_t, ax_v = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    drawn = False
    for label, (train, val, batch) in runs.items():
        if not train:
            continue
        seqs = np.array([r["step"] for r in train], dtype=float) * batch
        minutes = np.array([r["elapsed_s"] for r in train]) / 60.0
        recon = np.array([r["recon"] for r in train])
        k = max(1, len(recon) // 20)  # moving average over ~5% of the run
        (line,) = ax_t.plot(seqs, recon, alpha=0.35, linewidth=0.8)
        ax_t.plot(
            seqs[k - 1 :],
            np.convolve(recon, np.ones(k) / k, mode="valid"),
            color=line.get_color(),
            label=label,
        )
        if val:
            steps = np.array([r["step"] for r in train], dtype=float)
            vx = np.interp([r["step"] for r in val], steps, minutes)
            ax_v.plot(vx, [r["val_loss"] for r in val], marker="o", label=label)
        drawn = True
    ax_t.set_title("training BCE (per pixel, all next-frame predictions)", fontsize=10)
    ax_t.set_xlabel("training sequences seen")
    ax_v.set_title("validation loss (BCE + w_H H)", fontsize=10)
    ax_v.set_xlabel("training minutes (optimiser steps)")
    for ax in (ax_t, ax_v):
        ax.grid(True, which="both", alpha=0.3)
        if drawn:
            ax.set_yscale("log")
            ax.legend()
        else:  # e.g. runs shorter than one log interval: say so rather than fail
            ax.text(0.5, 0.5, "no training rows logged", ha="center", transform=ax.transAxes)
    if drawn:
        ax_t.set_xscale("log")
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
