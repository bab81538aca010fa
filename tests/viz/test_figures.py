import numpy as np

from vstm.data import MovingMNIST
from vstm.viz.figures import preview_image


def _colourful(img: np.ndarray) -> float:
    """Fraction of pixels whose channels differ (grey frames have none)."""
    a = img.astype(int)
    return float(((a.max(axis=-1) - a.min(axis=-1)) > 30).mean())


def test_preview_image_layout():
    items = [MovingMNIST("test", num_sequences=2, seq_len=3, size=32)[i] for i in range(2)]
    img, norm = preview_image(items)
    grey_only, zero = preview_image([{"frames": it["frames"]} for it in items])
    assert norm > 0 and zero == 0.0
    assert img.shape[0] > 2 * grey_only.shape[0] - 20  # a motion row under every sequence
    assert _colourful(img) > 0.01 and _colourful(grey_only) == 0.0


def test_draw_figure5_columns_and_zoom(tmp_path):
    import torch
    from PIL import Image

    from vstm.viz.figures import draw_figure5

    n, k, h, w = 2, 5, 16, 16
    motion = torch.zeros(n, 2, h, w)
    motion[:, 0] = 1.0  # one pixel to the right
    p = tmp_path / "figure5.png"
    draw_figure5(
        p,
        torch.rand(n, k, 1, h, w),
        torch.rand(n, 1, h, w),
        {"A": torch.rand(n, 1, h, w), "B": torch.rand(n, 1, h, w)},
        motion.clone(),
        motion,
        zoom=2,
    )
    img = np.asarray(Image.open(p).convert("RGB"))
    # 4 inputs, truth, 2 predictions, true motion, flow: 9 columns of 32-pixel pictures
    assert img.shape[1] >= 9 * 2 * w and img.shape[0] >= n * 2 * h
    assert _colourful(img) > 0.05  # the motion columns are coloured
