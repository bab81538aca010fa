"""Learning curves as PNG files (matplotlib, Agg canvas, imported only when a plot is drawn)."""

from __future__ import annotations

import os

from vstm.errors import VstmError
from vstm.io import atomic_path

__all__ = ["plot_curves"]


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
