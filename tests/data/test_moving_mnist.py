import pickle

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from vstm import warp
from vstm.data import MovingMNIST, MovingMNISTFile, build_dataset
from vstm.data.moving_mnist import _fold
from vstm.errors import VstmError


def _reference(ds: MovingMNIST, idx: list[int]):
    """Slow, obvious generator from the same trajectories: per-digit layers, pixel loops.

    Returns frames uint8 (B, T, H, W), motion (B, T-1, 2, H, W), mask (B, T-1, H, W) and the
    per-digit layers (B, T, D, H, W).
    """
    ids, pos = ds.trajectories(idx)
    B, T, D, _ = pos.shape
    H, W = ds.height, ds.width
    layers = np.zeros((B, T, D, H, W), np.uint8)
    for b in range(B):
        for t in range(T):
            for d in range(D):
                x, y = pos[b, t, d]
                layers[b, t, d, y : y + 28, x : x + 28] = ds.digits[ids[b, d]]
    frames = layers.max(axis=2)
    motion = np.zeros((B, T - 1, 2, H, W), np.float32)
    for b in range(B):
        for t in range(T - 1):
            for r in range(H):
                for c in range(W):
                    vals = layers[b, t, :, r, c]
                    if vals.max() == 0:
                        continue
                    d = D - 1 - int(np.argmax(vals[::-1]))  # brightest; ties: drawn later
                    motion[b, t, :, r, c] = pos[b, t + 1, d] - pos[b, t, d]
    return frames, motion, frames[:, :-1] > 0, layers


def test_fast_generator_matches_slow_reference():
    ds = MovingMNIST("train", seq_len=6, size=(48, 56), num_digits=3, seed=11)
    out = ds.generate([0, 7, 123])
    frames, motion, mask, _ = _reference(ds, [0, 7, 123])
    assert torch.equal(out["frames"][:, :, 0], torch.from_numpy(frames).float() / 255)
    assert torch.equal(out["motion"], torch.from_numpy(motion))
    assert torch.equal(out["mask"][:, :, 0], torch.from_numpy(mask))
    assert out["mask"].any() and (out["motion"].abs() > 0).any()


def test_same_seed_same_sequences_different_seeds_differ():
    a = MovingMNIST("train", num_sequences=4, seq_len=5, seed=3)
    b = MovingMNIST("train", num_sequences=4, seq_len=5, seed=3)
    c = MovingMNIST("train", num_sequences=4, seq_len=5, seed=4)
    t = MovingMNIST("test", num_sequences=4, seq_len=5, seed=3)
    for i in range(4):
        assert torch.equal(a[i]["frames"], b[i]["frames"])
        assert torch.equal(a[i]["motion"], b[i]["motion"])
        assert not torch.equal(a[i]["frames"], c[i]["frames"])
        assert not torch.equal(a[i]["frames"], t[i]["frames"])
    assert not torch.equal(a[0]["frames"], a[1]["frames"])


def test_sequence_depends_only_on_its_index():
    ds = MovingMNIST("test", num_sequences=10, seq_len=4)
    batch = ds.generate(range(10))
    alone = ds.generate([7])
    assert torch.equal(batch["frames"][7], alone["frames"][0])
    assert torch.equal(batch["motion"][7], alone["motion"][0])
    # beyond num_sequences (fresh training data) and through offset
    far = MovingMNIST("test", num_sequences=2, seq_len=4, offset=10**9)
    assert torch.equal(far[1]["frames"], ds.generate([10**9 + 1])["frames"][0])
    with pytest.raises(IndexError):
        ds[10]


def test_item_format_and_default_collate():
    ds = MovingMNIST("train", num_sequences=6, seq_len=7, binarize=True)
    item = ds[2]
    assert item["frames"].dtype == torch.float32 and item["frames"].shape == (7, 1, 64, 64)
    assert item["motion"].dtype == torch.float32 and item["motion"].shape == (6, 2, 64, 64)
    assert item["mask"].dtype == torch.bool and item["mask"].shape == (6, 1, 64, 64)
    assert set(item["frames"].unique().tolist()) == {0.0, 1.0}  # binarised
    batch = next(iter(DataLoader(ds, batch_size=4)))  # uses __getitems__
    assert batch["frames"].shape == (4, 7, 1, 64, 64) and batch["mask"].shape == (4, 6, 1, 64, 64)
    assert torch.equal(batch["frames"][2], item["frames"])
    loader = DataLoader(ds, batch_size=3, num_workers=2)
    assert torch.equal(torch.cat([b["motion"] for b in loader]), ds.generate(range(6))["motion"])
    rgb = MovingMNIST("train", num_sequences=1, seq_len=2, channels=3)[0]["frames"]
    assert rgb.shape == (2, 3, 64, 64) and torch.equal(rgb[:, 0], rgb[:, 2])


def test_digits_stay_whole_inside_the_frame():
    ds = MovingMNIST("train", num_sequences=64, seq_len=20, num_digits=1, speed=(6.0, 9.0))
    ids, pos = ds.trajectories(range(64))
    assert pos.min() >= 0 and pos.max() <= 64 - 28
    frames = ds.generate(range(64))["frames"][:, :, 0]  # (B, T, H, W)
    digit_mass = torch.from_numpy(ds.digits[ids[:, 0]].astype(np.float32) / 255).sum(dim=(1, 2))
    # nothing of the digit is ever cut off: every frame holds the whole digit
    assert torch.allclose(frames.sum(dim=(2, 3)), digit_mass[:, None].expand(-1, 20), rtol=1e-5)


def test_constant_speed_and_bounces():
    ds = MovingMNIST("train", num_sequences=200, seq_len=20, num_digits=1, speed=(4.0, 4.0))
    _, pos = ds.trajectories(range(200))
    step = np.diff(pos[:, :, 0], axis=1)  # (B, T-1, 2)
    speed = np.linalg.norm(step, axis=-1)
    # rounding to whole pixels changes each coordinate by at most 1 per frame; bounces shorten
    assert speed.max() <= 4.0 + 2**0.5 + 1e-9
    assert abs(np.median(speed) - 4.0) < 0.5
    flips = (np.sign(step[:, 1:]) * np.sign(step[:, :-1]) < 0).any(axis=(1, 2))
    assert flips.mean() > 0.5  # most sequences bounce off a border within 20 frames
    # the fold: constant speed, reflected at both ends
    assert np.allclose(
        _fold(np.array([-3.0, 0.0, 5.0, 36.0, 40.0, 75.0]), 36), [3, 0, 5, 36, 32, 3]
    )


def test_warp_next_frame_by_motion_gives_frame_exactly_single_digit():
    # motion[t][p]: content at p in frame t is at p + motion[t][p] in frame t+1. With
    # warp(x, flow)[p] = x[p + flow[p]], warp(frame t+1, motion[t]) equals frame t on mask[t].
    # Exact in float64; float32 grid_sample adds ~1e-5 from normalising the coordinates.
    ds = MovingMNIST("test", num_sequences=8, seq_len=10, num_digits=1)
    b = ds.generate(range(8))
    f, m, mask = b["frames"].double(), b["motion"].double(), b["mask"]
    B, T = f.shape[:2]
    back = warp(f[:, 1:].reshape(-1, 1, 64, 64), m.reshape(-1, 2, 64, 64)).view(B, T - 1, 1, 64, 64)
    target = f[:, :-1]
    assert mask.sum() > 1000
    assert torch.allclose(back[mask], target[mask], rtol=0, atol=1e-12)
    back32 = warp(b["frames"][:, 1:].flatten(0, 1), b["motion"].flatten(0, 1)).view_as(back)
    assert torch.allclose(back32[mask], b["frames"][:, :-1][mask], rtol=0, atol=1e-5)
    # the motion matters: neither a zero flow nor the model-style flow -motion reproduces it
    assert not torch.allclose(f[:, 1:][mask], target[mask], atol=0.1)
    wrong = warp(f[:, 1:].reshape(-1, 1, 64, 64), -m.reshape(-1, 2, 64, 64)).view_as(back)
    assert not torch.allclose(wrong[mask], target[mask], atol=0.1)


def test_layer_flow_warps_frame_t_into_frame_t_plus_1():
    # The oracle's flow (Table 1): warp(frames[t], layer_flow[t]) predicts frames[t+1]. With
    # one digit nothing is occluded, so it is exact on every pixel, bounces included.
    ds = MovingMNIST("test", num_sequences=8, seq_len=12, num_digits=1, seed=3)
    b = ds.generate(range(8), layer_flow=True)
    f, lf = b["frames"].double(), b["layer_flow"].double()  # (B, T, 1, H, W), (B, T-1, 2, H, W)
    pred = warp(f[:, :-1].flatten(0, 1), lf.flatten(0, 1)).view_as(f[:, 1:])
    assert torch.allclose(pred, f[:, 1:], rtol=0, atol=1e-12)
    assert not torch.allclose(f[:, :-1], f[:, 1:], atol=0.1)  # the digits do move
    # it is minus the displacement inside the digit's box at t+1 and zero outside it
    _, pos = ds.trajectories(range(8))
    x, y = pos[0, 1, 0]
    dx, dy = pos[0, 1, 0] - pos[0, 0, 0]
    assert lf[0, 0, 0, y + 14, x + 14] == -dx and lf[0, 0, 1, y + 14, x + 14] == -dy
    x0, y0 = pos[0, 0, 0]
    boxes = torch.zeros(64, 64, dtype=torch.bool)  # where the digit is and where it was
    boxes[y : y + 28, x : x + 28] = boxes[y0 : y0 + 28, x0 : x0 + 28] = True
    assert (lf[0, 0, :, ~boxes] == 0).all() and (lf[0, 0, :, boxes] != 0).any(0).all()
    # other outputs do not change when it is asked for
    plain = ds.generate(range(8))
    assert all(torch.equal(plain[k], b[k]) for k in plain)


def test_layer_flow_with_overlapping_digits_is_wrong_only_near_overlaps():
    ds = MovingMNIST("test", num_sequences=64, seq_len=11, num_digits=2, binarize=True, seed=9)
    b = ds.generate(range(64), layer_flow=True)
    f, lf = b["frames"], b["layer_flow"]
    pred = warp(f[:, :-1].flatten(0, 1), lf.flatten(0, 1)).view_as(f[:, 1:])
    wrong = (pred > 0.5) != (f[:, 1:] > 0.5)
    copy_wrong = (f[:, :-1] > 0.5) != (f[:, 1:] > 0.5)
    assert 0 < wrong.float().mean() < 0.25 * copy_wrong.float().mean()


def test_warp_by_motion_with_overlapping_digits():
    ds = MovingMNIST("train", num_sequences=12, seq_len=12, num_digits=3, seed=5)
    idx = list(range(12))
    b = ds.generate(idx)
    f, m, mask = b["frames"].double(), b["motion"].double(), b["mask"][:, :, 0]
    B, T = f.shape[:2]
    back = warp(f[:, 1:].reshape(-1, 1, 64, 64), m.reshape(-1, 2, 64, 64)).view(B, T - 1, 64, 64)
    target = f[:, :-1, 0]
    # overlaps combine by max, so the warped value is never smaller on digit pixels ...
    assert (back[mask] >= target[mask] - 1e-12).all()
    # ... and equal wherever no other digit lands on the destination pixel in frame t+1
    _, _, _, layers = _reference(ds, idx)
    layers = torch.from_numpy(layers)  # (B, T, D, H, W) uint8
    unoccluded = torch.zeros_like(mask)
    for bi in range(B):
        for t in range(T - 1):
            ys, xs = torch.nonzero(mask[bi, t], as_tuple=True)
            dx, dy = m[bi, t, 0, ys, xs].long(), m[bi, t, 1, ys, xs].long()
            dest = layers[bi, t + 1, :, ys + dy, xs + dx]  # (D, n)
            unoccluded[bi, t, ys, xs] = (dest > 0).sum(0) <= 1
    both = mask & unoccluded
    assert both.sum() > 0.8 * mask.sum() and (mask & ~unoccluded).any()
    assert torch.allclose(back[both], target[both], rtol=0, atol=1e-12)
    assert not torch.allclose(back[mask], target[mask], rtol=0, atol=1e-12)  # occlusion


def test_bad_arguments_raise():
    with pytest.raises(VstmError, match="smaller than a 28x28 digit"):
        MovingMNIST(size=20)
    with pytest.raises(VstmError, match="unknown split"):
        MovingMNIST("valid")
    with pytest.raises(VstmError, match="speed range"):
        MovingMNIST(speed=(3.0, 1.0))
    with pytest.raises(VstmError, match=r"\(N, 28, 28\)"):
        MovingMNIST(digits=np.zeros((3, 28, 27), np.uint8))


def test_build_dataset_moving_mnist_splits():
    train = build_dataset("moving-mnist", seq_len=3)
    test = build_dataset("moving-mnist", split="test", seq_len=3, size=32)
    assert len(train) == 10_000 and len(test) == 3_000
    assert test[0]["frames"].shape == (3, 1, 32, 32)
    assert len(train.digits) == 4000 and len(test.digits) == 1000


def _write_seq_file(path, T=20, N=5, H=64, W=64):
    rng = np.random.default_rng(0)
    arr = rng.integers(0, 256, (T, N, H, W), dtype=np.uint8)
    np.save(path, arr)
    return arr


def test_srivastava_npy_loader(tmp_path):
    arr = _write_seq_file(tmp_path / "mnist_test_seq.npy")
    ds = build_dataset(str(tmp_path / "mnist_test_seq.npy"), seq_len=10)
    assert isinstance(ds, MovingMNISTFile) and len(ds) == 5
    x = ds[3]["frames"]
    assert x.shape == (10, 1, 64, 64) and x.dtype == torch.float32
    assert torch.equal(x[:, 0], torch.from_numpy(arr[:10, 3]).float() / 255)
    assert torch.equal(ds[-1]["frames"], ds[4]["frames"])
    ds2 = pickle.loads(pickle.dumps(ds))  # memory map re-opened, not pickled
    assert torch.equal(ds2[3]["frames"], x)
    binar = MovingMNISTFile(tmp_path / "mnist_test_seq.npy", binarize=True, num_sequences=2)
    assert len(binar) == 2 and set(binar[0]["frames"].unique().tolist()) <= {0.0, 1.0}
    small = MovingMNISTFile(tmp_path / "mnist_test_seq.npy", size=32, channels=3)
    assert small[0]["frames"].shape == (20, 3, 32, 32)
    batch = next(iter(DataLoader(ds, batch_size=2, num_workers=2)))
    assert torch.equal(batch["frames"][1], ds[1]["frames"])


def test_srivastava_npy_bad_files(tmp_path):
    np.save(tmp_path / "f32.npy", np.zeros((20, 2, 64, 64), np.float32))
    with pytest.raises(VstmError, match=r"f32\.npy: expected uint8 \(T, N, H, W\)"):
        MovingMNISTFile(tmp_path / "f32.npy")
    np.save(tmp_path / "objects.npy", np.array([{"a": 1}], dtype=object))
    with pytest.raises(VstmError, match=r"objects\.npy"):
        MovingMNISTFile(tmp_path / "objects.npy")
    (tmp_path / "junk.npy").write_bytes(b"not numpy")
    with pytest.raises(VstmError, match=r"junk\.npy: not a readable \.npy"):
        MovingMNISTFile(tmp_path / "junk.npy")
    _write_seq_file(tmp_path / "ok.npy", T=10, N=1)
    with pytest.raises(VstmError, match="--seq-len between 2 and 10"):
        MovingMNISTFile(tmp_path / "ok.npy", seq_len=20)
    with pytest.raises(VstmError, match="no such file"):
        MovingMNISTFile(tmp_path / "missing.npy")
