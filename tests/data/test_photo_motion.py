"""The photo-motion source: motion against frames, determinism, pools, registration."""

import numpy as np
import pytest
import torch
from PIL import Image

from vstm import warp
from vstm.data import PhotoMotion, build_dataset, is_photo_motion
from vstm.data.names import canonical_data, photo_dir
from vstm.data.photo_motion import photo_pool
from vstm.errors import VstmError


def _smooth_photo(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A band-limited colour texture (sum of low-frequency sinusoids), uint8 (h, w, 3)."""
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
    img = np.zeros((h, w, 3))
    for _ in range(6):
        kx, ky = rng.uniform(-0.15, 0.15, 2)
        img += rng.uniform(0.2, 1, 3) * np.sin(kx * xs + ky * ys + rng.uniform(0, 6.3))[..., None]
    img = (img - img.min()) / (img.max() - img.min())
    return (img * 255).astype(np.uint8)


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    """Six smooth photographs (so that bilinear resampling itself is nearly exact)."""
    d = tmp_path_factory.mktemp("photos")
    rng = np.random.default_rng(1)
    for i in range(6):
        Image.fromarray(_smooth_photo(rng, 90 + 7 * i, 120)).save(d / f"p{i}.png")
    return d


def _warp_errors(item):
    f, m, k = item["frames"], item["motion"], item["mask"]
    err = (warp(f[1:], m) - f[:-1]).abs().amax(1, keepdim=True)  # (T-1, 1, H, W)
    still = (f[1:] - f[:-1]).abs().amax(1, keepdim=True)
    return err[k], still[k], k


def test_motion_warps_next_frame_onto_this_one(photos):
    # warp(frames[t+1], motion[t]) == frames[t] on the mask. The frames are bilinear samples
    # of the photographs, so the check resamples twice; on these smooth textures (largest
    # spatial frequency 0.15 rad/px) one bilinear step errs by at most ~k^2/8 of the
    # amplitude, about 0.3% of the range: a 2% bound leaves room for rounding to 8 bits and
    # still fails for any motion off by a pixel (the zero-motion error is ~10x larger).
    ds = PhotoMotion(photos, num_sequences=6, seq_len=6, size=40, max_speed=3.0)
    for i in range(6):
        err, still, k = _warp_errors(ds[i])
        assert k.float().mean() > 0.5  # most pixels have defined motion
        assert err.max() < 0.02, f"sequence {i}: max error {err.max():.4f}"
        assert still.mean() > 5 * err.mean()


def test_a_wrong_motion_fails_the_same_check(photos):
    # The check above can fail: the negated motion, or the motion of a different
    # sequence, leaves errors several times larger than the true one.
    ds = PhotoMotion(photos, num_sequences=4, seq_len=5, size=40, max_speed=3.0)
    item, other = ds[0], ds[1]
    err, _, _ = _warp_errors(item)
    for wrong in (-item["motion"], other["motion"]):
        bad, _, _ = _warp_errors(dict(item, motion=wrong))
        assert bad.mean() > 3 * err.mean()


def test_mask_excludes_occluded_and_outside(photos):
    ds = PhotoMotion(photos, num_sequences=4, seq_len=8, size=32, layers=(3, 3), max_speed=3)
    item = ds[0]
    dest_x = torch.arange(32.0).view(1, 1, 32) + item["motion"][:, 0]
    dest_y = torch.arange(32.0).view(1, 32, 1) + item["motion"][:, 1]
    inside = (dest_x >= 0) & (dest_x <= 31) & (dest_y >= 0) & (dest_y <= 31)
    assert not (item["mask"][:, 0] & ~inside).any()
    assert (~item["mask"]).any()  # three layers at speed 3 occlude something


def test_deterministic_from_seed_split_and_index(photos):
    a = PhotoMotion(photos, num_sequences=5, seq_len=4, size=24, seed=3)
    b = PhotoMotion(photos, num_sequences=5, seq_len=4, size=24, seed=3)
    c = PhotoMotion(photos, num_sequences=5, seq_len=4, size=24, seed=4)
    for k in ("frames", "motion", "mask"):
        assert torch.equal(a[2][k], b[2][k])
    assert not torch.equal(a[2]["frames"], c[2]["frames"])
    assert not torch.equal(a[1]["frames"], a[2]["frames"])
    assert torch.equal(a[2]["frames"], a.generate(2)["frames"])


def test_brightness_changes_the_gain_only(photos):
    plain = PhotoMotion(photos, num_sequences=2, seq_len=6, size=24)
    lit = PhotoMotion(photos, num_sequences=2, seq_len=6, size=24, brightness=0.3)
    assert torch.equal(plain[0]["motion"], lit[0]["motion"])
    assert not torch.allclose(plain[0]["frames"], lit[0]["frames"])


def test_pools_are_disjoint(photos, tmp_path):
    train, test = photo_pool(photos, "train"), photo_pool(photos, "test")
    assert len(train) == 5 and len(test) == 1 and not set(train) & set(test)
    with pytest.raises(VstmError, match="opencv-photos"):
        photo_pool(tmp_path / "none", "train")
    with pytest.raises(VstmError, match="at least 2"):
        photo_pool(tmp_path, "train")


def test_registered_as_data_source(photos):
    assert is_photo_motion("photo_motion") and canonical_data("Photo_Motion") == "photo-motion"
    assert photo_dir(f"photo-motion:{photos}") == str(photos)
    ds = build_dataset(f"photo-motion:{photos}", split="test", num_sequences=2, seq_len=3, size=16)
    assert isinstance(ds, PhotoMotion) and ds.paths == photo_pool(photos, "test")
    assert tuple(ds[1]["frames"].shape) == (3, 1, 16, 16)  # channels default to 1
    with pytest.raises(VstmError, match="binarize"):
        build_dataset(f"photo-motion:{photos}", binarize=True)
