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
