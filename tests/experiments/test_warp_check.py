"""The warp sanity check: its known answer on a synthetic two-layer stereo pair."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from vstm.cli import main
from vstm.experiments.warp_check import (
    disparity_to_flow,
    load_stereo,
    stereo_occlusion,
    warp_check,
)

H, W = 40, 64
D_BG, D_FG = 2, 6  # background and foreground disparities (integer pixels)
FG_ROWS, FG_COLS = (10, 30), (24, 44)  # foreground square, left-view coordinates


def _texture(rng, h: int, w: int) -> np.ndarray:
    """Smooth-ish random RGB texture (h, w, 3) uint8: every pixel differs from its neighbours."""
    a = rng.integers(0, 256, (h, w, 3)).astype(np.float64)
    a = (a + np.roll(a, 1, axis=1)) / 2  # keep some texture, lose the harshest edges
    return a.round().astype(np.uint8)


def stereo_scene(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Left view, right view (H, W, 3) uint8 and the left view's disparity (H, W) uint8.

    A background plane at disparity D_BG and a square in front of it at D_FG. Left pixel x
    shows the scene point that the right view shows at x - d(x).
    """
    rng = np.random.default_rng(seed)
    bg = _texture(rng, H, W + D_FG)
    fg = _texture(rng, H, W + D_FG)
    (y0, y1), (a, b) = FG_ROWS, FG_COLS
    cols = np.arange(W)
    left = bg[:, :W].copy()
    left[y0:y1, a:b] = fg[y0:y1, a:b]
    disp = np.full((H, W), D_BG, np.uint8)
    disp[y0:y1, a:b] = D_FG
    right = bg[:, np.clip(cols + D_BG, 0, W + D_FG - 1)].copy()
    in_fg = (cols + D_FG >= a) & (cols + D_FG < b)
    right[y0:y1, in_fg] = fg[y0:y1][:, cols[in_fg] + D_FG]
    return left, right, disp


@pytest.fixture
def scene_files(tmp_path):
    left, right, disp = stereo_scene()
    paths = {n: tmp_path / f"{n}.png" for n in ("left", "right", "disp")}
    Image.fromarray(left).save(paths["left"])
    Image.fromarray(right).save(paths["right"])
    disp = disp.copy()
    disp[0, :5] = 0  # a few unknown pixels
    Image.fromarray(disp).save(paths["disp"])
    return paths


def test_known_shift_reconstructs_exactly_on_visible_pixels(scene_files):
    lt, rt, d, known = load_stereo(scene_files["left"], scene_files["right"], scene_files["disp"])
    occluded = stereo_occlusion(d, known)
    # the background strip just left of the square, D_FG - D_BG wide, is hidden in the right view
    (y0, y1), (a, _) = FG_ROWS, FG_COLS
    expected = torch.zeros(H, W, dtype=torch.bool)
    expected[y0:y1, a - (D_FG - D_BG) : a] = True
    assert torch.equal(occluded, expected)
    r, warped = warp_check(lt, rt, disparity_to_flow(d), known, occluded)
    assert r.error_visible < 1e-4  # exact up to float rounding in the sampler
    assert r.identity_error_visible > 0.1  # a textured image moved by 2-6 px
    assert r.error > r.error_visible  # occluded pixels cannot be reconstructed
    # valid: known and reading inside the right view (x - d >= 0); of the 5 unknown pixels
    # of row 0, columns 0 and 1 read outside anyway
    assert r.valid_fraction == pytest.approx((H * (W - D_BG) - 3) / (H * W), abs=1e-9)
    assert warped.shape == lt.shape


def test_cli_writes_figure_and_numbers(scene_files, tmp_path, capsys):
    out = tmp_path / "out"
    argv = ["reproduce", "warpcheck", "--out", str(out)]
    argv += ["--left", str(scene_files["left"]), "--right", str(scene_files["right"])]
    assert main([*argv, "--disparity", str(scene_files["disp"])]) == 0
    report = json.loads((out / "warp_check.json").read_text())
    assert report["result"]["error_visible"] < 1e-4 < report["result"]["identity_error_visible"]
    assert report["command"].startswith("vstm reproduce warpcheck --left")
    md = (out / "warp_check.md").read_text()
    assert "| valid |" in md and "0.004" in md
    img = np.asarray(Image.open(out / "warp_check.png"))
    assert img.shape[1] > 4 * W  # five tiles and the colour key side by side
    assert "warp error" in capsys.readouterr().out


def test_wrong_scale_gives_a_large_error(scene_files):
    lt, rt, d, known = load_stereo(
        scene_files["left"], scene_files["right"], scene_files["disp"], disparity_scale=2.0
    )
    r, _ = warp_check(lt, rt, disparity_to_flow(d), known)
    assert r.error > 0.05


def test_size_mismatch_is_one_line_error(scene_files, tmp_path, capsys):
    small = tmp_path / "small.png"
    Image.open(scene_files["disp"]).resize((W // 2, H // 2)).save(small)
    argv = ["reproduce", "warpcheck", "--left", str(scene_files["left"])]
    argv += ["--right", str(scene_files["right"]), "--disparity", str(small)]
    assert main([*argv, "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "differ in size" in err and "small.png: 32x20" in err
    assert not (tmp_path / "o").exists()
