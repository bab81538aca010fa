import numpy as np
import pytest
import torch
from PIL import Image

from vstm import ShapeError, VstmError
from vstm.viz import image_grid, save_png, to_uint8_image


def test_to_uint8_image_grey_is_repeated_and_clipped():
    x = torch.tensor([[[-0.5, 0.0, 0.5, 1.0, 1.5]]])  # (1, 1, 5)
    img = to_uint8_image(x)
    assert img.shape == (1, 5, 3) and img.dtype == np.uint8
    assert img[0, :, 0].tolist() == [0, 0, 128, 255, 255]
    assert (img[..., 0] == img[..., 1]).all() and (img[..., 1] == img[..., 2]).all()
    assert np.array_equal(to_uint8_image(x[0]), img)  # (H, W) input


def test_to_uint8_image_rgb_channel_order():
    x = np.zeros((3, 2, 4), np.float32)
    x[0, 0, 0], x[2, 1, 3] = 1.0, 1.0  # red top-left, blue bottom-right
    img = to_uint8_image(x)
    assert img.shape == (2, 4, 3)
    assert img[0, 0].tolist() == [255, 0, 0] and img[1, 3].tolist() == [0, 0, 255]


@pytest.mark.parametrize("shape", [(2, 4, 4), (4, 4, 3), (1, 1, 4, 4)])
def test_to_uint8_image_bad_shape(shape):
    with pytest.raises(ShapeError, match="to_uint8_image"):
        to_uint8_image(np.zeros(shape))


def test_image_grid_layout_aligns_tiles_top_left():
    a = np.full((4, 6, 3), 10, np.uint8)
    b = np.full((2, 3, 3), 20, np.uint8)
    c = np.full((3, 2, 3), 30, np.uint8)
    g = image_grid([[a, b], [c]], pad=1, bg=200)
    # rows: heights 4 and 3; columns: widths 6 and 3 -> (1+4+1+3+1, 1+6+1+3+1)
    assert g.shape == (10, 12, 3) and g.dtype == np.uint8
    assert (g[1:5, 1:7] == 10).all()
    assert (g[1:3, 8:11] == 20).all() and (g[3:5, 8:11] == 200).all()  # b at top-left of cell
    assert (g[6:9, 1:3] == 30).all() and (g[6:9, 3:7] == 200).all()
    assert (g[6:9, 8:11] == 200).all()  # missing cell is background
    assert (g[0] == 200).all() and (g[:, 0] == 200).all()


def test_image_grid_titles_are_drawn():
    t = np.zeros((8, 8, 3), np.uint8)
    plain = image_grid([[t, t], [t, t]], pad=2)
    titled = image_grid([[t, t], [t, t]], pad=2, col_titles=["in", "flow"], row_titles=["a", "b"])
    assert titled.shape[0] > plain.shape[0] and titled.shape[1] > plain.shape[1]
    top = titled[: titled.shape[0] - plain.shape[0]]
    assert (top < 128).any()  # dark title ink above the tiles


def test_image_grid_accepts_grey_tiles_and_rejects_floats():
    assert image_grid([[np.zeros((3, 3), np.uint8)]], pad=0).shape == (3, 3, 3)
    with pytest.raises(VstmError, match="uint8"):
        image_grid([[np.zeros((3, 3, 3), np.float32)]])
    with pytest.raises(VstmError, match="column titles"):
        image_grid([[np.zeros((3, 3, 3), np.uint8)]], col_titles=["a", "b"])
    with pytest.raises(VstmError, match="no tiles"):
        image_grid([])


def test_save_png_round_trip(tmp_path):
    img = np.random.default_rng(0).integers(0, 256, size=(5, 7, 3), dtype=np.uint8)
    save_png(tmp_path / "sub" / "a.png", img)
    assert np.array_equal(np.asarray(Image.open(tmp_path / "sub" / "a.png")), img)
    grey = img[..., 0]
    save_png(tmp_path / "g.png", grey)
    assert np.array_equal(np.asarray(Image.open(tmp_path / "g.png")), grey)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.png", "sub"]


def test_save_png_rejects_float_and_leaves_nothing(tmp_path):
    with pytest.raises(VstmError, match=r"x\.png.*uint8"):
        save_png(tmp_path / "x.png", np.zeros((4, 4, 3), np.float32))
    with pytest.raises(ShapeError, match=r"x\.png"):
        save_png(tmp_path / "x.png", np.zeros((4, 4, 2), np.uint8))
    assert list(tmp_path.iterdir()) == []
