"""Classical Table 1 rows: copy-last (vstm.eval.next_frame), and DIS / Farnebäck flow at constant
velocity (vstm.baselines)."""

import sys

import pytest
import torch
import torch.nn.functional as F

from vstm import ShapeError, VstmError
from vstm.baselines import estimate_motion, predict_constant_velocity
from vstm.eval.next_frame import copy_last_predictor

SIDE, START = 20, (14, 18)  # square side and top-left (x, y) in frame 0
METHODS = ["dis", "farneback"]


def translating_square(v: tuple[int, int], t: int = 4, size: int = 64) -> torch.Tensor:
    """(1, t, 1, size, size): a smoothly textured square moving by integer v = (vx, vy) per
    frame over a black background."""
    g = torch.Generator().manual_seed(0)
    tex = torch.rand(1, 1, SIDE // 4, SIDE // 4, generator=g)
    tex = 0.4 + 0.6 * F.interpolate(tex, size=(SIDE, SIDE), mode="bilinear", align_corners=True)
    frames = torch.zeros(1, t, 1, size, size)
    for i in range(t):
        x0, y0 = START[0] + i * v[0], START[1] + i * v[1]
        frames[0, i, 0, y0 : y0 + SIDE, x0 : x0 + SIDE] = tex[0, 0]
    return frames


def interior(field: torch.Tensor, frame_index: int, v, margin: int = 3) -> torch.Tensor:
    """The square's interior, `margin` px in from its edges, in frame `frame_index`."""
    x0, y0 = START[0] + frame_index * v[0], START[1] + frame_index * v[1]
    return field[..., y0 + margin : y0 + SIDE - margin, x0 + margin : x0 + SIDE - margin]


def test_copy_last():
    # the zero-motion row of Table 1 and Figure 6: the next frame is the last context frame
    frames = torch.rand(2, 3, 1, 8, 6)
    pred, motion = copy_last_predictor(frames)
    assert torch.equal(pred, frames[:, -1])
    assert motion.shape == (2, 2, 8, 6) and not motion.any()


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("v", [(2, 1), (-3, 2)])
def test_estimate_motion_recovers_translation(method, v):
    pytest.importorskip("cv2")
    frames = translating_square(v)
    motion = estimate_motion(frames[:, 0], frames[:, 1], method)
    assert motion.shape == (1, 2, 64, 64) and motion.dtype == torch.float32
    err = (interior(motion[0], 0, v) - torch.tensor(v).view(2, 1, 1)).norm(dim=0)
    assert err.max() < 0.5, f"{method}: end-point error up to {err.max():.3f} px"


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("v", [(2, 1), (-3, 2)])
def test_constant_velocity_predicts_next_frame(method, v):
    pytest.importorskip("cv2")
    frames = translating_square(v)
    pred, motion = predict_constant_velocity(frames[:, :3], method)
    truth = frames[:, 3]
    assert pred.shape == truth.shape and motion.shape == (1, 2, 64, 64)
    # the motion of frame 2's content, on frame 2's grid
    err = (interior(motion[0], 2, v) - torch.tensor(v).view(2, 1, 1)).norm(dim=0)
    assert err.max() < 0.5, f"{method}: end-point error up to {err.max():.3f} px"
    # the square lands where it should: interior exact to a few grey levels, and the whole
    # frame far closer to the truth than copying the last frame
    assert (interior(pred, 3, v) - interior(truth, 3, v)).abs().max() < 0.05
    copy_err = (frames[:, 2] - truth).abs().mean()
    assert (pred - truth).abs().mean() < 0.2 * copy_err


def motion_centroid(motion: torch.Tensor) -> torch.Tensor:
    """(x, y) centroid of |motion| (1, 2, H, W), in pixels."""
    w = motion[0].norm(dim=0)
    ys, xs = torch.meshgrid(torch.arange(w.shape[0]), torch.arange(w.shape[1]), indexing="ij")
    return torch.stack(((w * xs).sum(), (w * ys).sum())) / w.sum()


@pytest.mark.parametrize("v", [(2, 1), (4, 0)])
def test_motion_lives_on_the_documented_grid(v):
    # Inside the square the motion is the same on either frame's grid; where it sits is the
    # convention. Farnebäck keeps the motion field centred on the square it measures.
    pytest.importorskip("cv2")
    frames = translating_square(v)

    def centre(i):
        return torch.tensor([START[0] + i * v[0], START[1] + i * v[1]]) + (SIDE - 1) / 2

    # estimate_motion(prev, cur): on prev's grid
    motion = estimate_motion(frames[:, 1], frames[:, 2], "farneback")
    assert (motion_centroid(motion) - centre(1)).abs().max() < 0.5
    # constant velocity: the motion of frame t's content, on frame t's grid
    _, motion = predict_constant_velocity(frames[:, :3], "farneback")
    assert (motion_centroid(motion) - centre(2)).abs().max() < 0.5


def test_zero_motion_on_static_frames():
    pytest.importorskip("cv2")
    frames = translating_square((0, 0), t=2)
    for method in METHODS:
        pred, motion = predict_constant_velocity(frames, method)
        assert motion.abs().max() < 0.05
        assert (pred - frames[:, 1]).abs().max() < 0.05


def test_bad_inputs():
    pytest.importorskip("cv2")
    with pytest.raises(ShapeError, match="T >= 2"):
        predict_constant_velocity(torch.rand(1, 1, 1, 8, 8))
    with pytest.raises(ShapeError, match="cur must have prev's shape"):
        estimate_motion(torch.rand(1, 1, 8, 8), torch.rand(1, 1, 8, 9))
    with pytest.raises(VstmError, match="unknown flow method"):
        estimate_motion(torch.rand(1, 1, 8, 8), torch.rand(1, 1, 8, 8), "lucas")


def test_missing_opencv_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "cv2", None)  # makes `import cv2` raise ImportError
    with pytest.raises(VstmError, match=r"pip install 'vstm\[baselines\]'"):
        estimate_motion(torch.rand(1, 1, 8, 8), torch.rand(1, 1, 8, 8))
