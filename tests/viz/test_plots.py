import numpy as np
import pytest
from PIL import Image

from vstm import VstmError
from vstm.viz import plot_curves


def test_plot_curves_writes_a_png(tmp_path):
    p = tmp_path / "curves.png"
    series = {"train": ([1, 2, 3, 4], [1.0, 0.5, 0.3, 0.2]), "val": ([2, 4], [0.6, 0.4])}
    plot_curves(p, series, "step", "loss", title="loss", logy=True)
    img = np.asarray(Image.open(p))
    assert img.ndim == 3 and img.shape[0] > 100 and img.shape[1] > 100
    assert img.std() > 0  # not a blank canvas
    assert sorted(x.name for x in tmp_path.iterdir()) == ["curves.png"]


def test_plot_curves_bad_series(tmp_path):
    with pytest.raises(VstmError, match=r"'train'.*3 x values"):
        plot_curves(tmp_path / "c.png", {"train": ([1, 2, 3], [1.0])}, "x", "y")
    with pytest.raises(VstmError, match="no data"):
        plot_curves(tmp_path / "c.png", {}, "x", "y")
    assert list(tmp_path.iterdir()) == []


def test_draw_curves_two_panels_and_an_empty_run(tmp_path):
    from vstm.viz.plots import draw_curves

    train = [{"step": s, "elapsed_s": 2.0 * s, "recon": 1.0 / s} for s in range(1, 41)]
    val = [{"step": 20, "val_loss": 0.1}, {"step": 40, "val_loss": 0.05}]
    p = tmp_path / "curves.png"
    draw_curves(p, {"AE-Conv": (train, val, 4), "AE-fcLSTM": ([], [], 4)}, "title")
    img = np.asarray(Image.open(p))
    assert img.shape[1] > img.shape[0] > 100 and img.std() > 0
    draw_curves(tmp_path / "none.png", {"AE-Conv": ([], [], 1)}, "no rows yet")  # says so
    assert sorted(x.name for x in tmp_path.iterdir()) == ["curves.png", "none.png"]
