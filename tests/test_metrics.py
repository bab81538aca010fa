import math

import numpy as np
import pytest
import torch

from vstm import ShapeError, VstmError, warp
from vstm.metrics import (
    angular_error,
    bce,
    epe,
    flow_to_motion,
    movers_auc,
    mse,
    psnr,
    roc_auc,
    ssim,
)

# ---- MSE / PSNR


def test_identical_frames_mse_zero_psnr_inf_or_capped():
    x = torch.rand(2, 3, 1, 8, 8)  # (B, T, C, H, W)
    assert mse(x, x).item() == 0.0
    assert psnr(x, x).item() == math.inf
    assert psnr(x, x, max_db=100.0).item() == 100.0
    assert psnr(x, x, reduction="none").shape == (2, 3)


def test_known_mse_gives_known_psnr():
    x = torch.zeros(1, 1, 4, 4)
    y = x.clone()
    y[..., :2, :] = 0.2  # half the pixels off by 0.2: MSE = 0.5 * 0.04 = 0.02
    assert mse(x, y).item() == pytest.approx(0.02)
    assert psnr(x, y).item() == pytest.approx(10 * math.log10(1 / 0.02))
    assert psnr(x * 255, y * 255, data_range=255.0).item() == pytest.approx(16.9897, abs=1e-4)


def test_reduction_none_and_mean_over_leading_dims():
    x = torch.zeros(2, 3, 1, 2, 2)
    y = torch.zeros_like(x)
    y[1] = 0.5  # second clip off by 0.5 everywhere
    per = mse(x, y, reduction="none")
    assert per.shape == (2, 3)
    assert torch.equal(per, torch.tensor([[0.0] * 3, [0.25] * 3]))
    assert mse(x, y).item() == pytest.approx(0.125)
    assert mse(x.double(), y.double()).dtype == torch.float64
    with pytest.raises(VstmError, match="reduction"):
        mse(x, y, reduction="sum")


def test_shape_mismatch_raises():
    with pytest.raises(ShapeError, match="mse"):
        mse(torch.zeros(1, 1, 4, 4), torch.zeros(1, 1, 4, 5))
    with pytest.raises(ShapeError, match="bce"):
        bce(torch.zeros(4, 4), torch.zeros(4, 4))


# ---- BCE


def test_bce_known_logits_equals_hand_value():
    logits = torch.tensor([0.0, 2.0, -1.0, 3.0]).view(1, 1, 2, 2)
    target = torch.tensor([1.0, 0.0, 0.0, 1.0]).view(1, 1, 2, 2)
    # -log sigmoid(z) for target 1, -log(1 - sigmoid(z)) = log(1 + e^z) for target 0
    hand = (
        math.log(2.0)
        + math.log1p(math.exp(2.0))
        + math.log1p(math.exp(-1.0))
        + math.log1p(math.exp(-3.0))
    ) / 4
    assert bce(logits, target).item() == pytest.approx(hand, rel=1e-6)


def test_bce_logits_are_stable_and_probabilities_clamped():
    big = torch.tensor([100.0, -100.0]).view(1, 1, 1, 2)
    t = torch.ones(1, 1, 1, 2)
    assert bce(big, t).item() == pytest.approx(50.0, rel=1e-6)  # (0 + 100) / 2, not inf
    p = torch.tensor([1.0, 0.0]).view(1, 1, 1, 2)
    val = bce(p, t, logits=False).item()
    assert math.isfinite(val) and val == pytest.approx(-math.log(1e-7) / 2, rel=1e-3)


def test_bce_probabilities_agree_with_logits():
    z = torch.randn(3, 1, 5, 5)
    t = (torch.rand(3, 1, 5, 5) > 0.5).float()
    a = bce(z, t, reduction="none")
    b = bce(torch.sigmoid(z), t, logits=False, reduction="none")
    assert a.shape == (3,)
    assert torch.allclose(a, b, atol=1e-5)


# ---- SSIM


def _gaussian_filter_np(img: np.ndarray) -> np.ndarray:
    from scipy.ndimage import gaussian_filter

    return gaussian_filter(img, sigma=1.5, truncate=3.5, mode="reflect")


def _ssim_reference(x: np.ndarray, y: np.ndarray, data_range: float = 1.0) -> float:
    """Independent reference: skimage's algorithm with scipy filtering, 2-D, float64.

    Filter the whole image (reflect padding), then average only away from the 5-pixel border,
    where the 11-tap window lies wholly inside the image.
    """
    ux, uy = _gaussian_filter_np(x), _gaussian_filter_np(y)
    vx = _gaussian_filter_np(x * x) - ux * ux
    vy = _gaussian_filter_np(y * y) - uy * uy
    vxy = _gaussian_filter_np(x * y) - ux * uy
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    s = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux**2 + uy**2 + c1) * (vx + vy + c2))
    return float(s[5:-5, 5:-5].mean())


def test_ssim_identical_is_one():
    x = torch.rand(2, 3, 16, 20)
    assert torch.allclose(ssim(x, x, reduction="none"), torch.ones(2), atol=1e-6)


def test_ssim_of_constant_images_is_the_luminance_term():
    # Constant images: variances and covariance vanish, so SSIM = (2ab + C1) / (a^2 + b^2 + C1).
    a, b, c1 = 0.5, 0.25, 1e-4
    x, y = torch.full((1, 1, 12, 12), a), torch.full((1, 1, 12, 12), b)
    assert ssim(x, y).item() == pytest.approx((2 * a * b + c1) / (a * a + b * b + c1), rel=1e-5)


def test_ssim_matches_scipy_reference_on_a_known_perturbation():
    pytest.importorskip("scipy")
    rng = np.random.default_rng(0)
    x = rng.random((24, 30))
    y = np.clip(x + rng.normal(scale=0.1, size=x.shape), 0, 1)
    ref = _ssim_reference(x, y)
    got = ssim(torch.from_numpy(x)[None, None], torch.from_numpy(y)[None, None])
    assert got.dtype == torch.float64
    assert got.item() == pytest.approx(ref, abs=1e-10)
    assert 0.2 < ref < 0.95  # the perturbation is visible but not total
    got32 = ssim(torch.from_numpy(x).float()[None, None], torch.from_numpy(y).float()[None, None])
    assert got32.item() == pytest.approx(ref, abs=1e-4)


def test_ssim_multichannel_is_mean_over_channels():
    pytest.importorskip("scipy")
    rng = np.random.default_rng(1)
    x = rng.random((3, 16, 16))
    y = np.clip(x * 0.8 + 0.1, 0, 1)
    ref = np.mean([_ssim_reference(x[c], y[c]) for c in range(3)])
    assert ssim(torch.from_numpy(x)[None], torch.from_numpy(y)[None]).item() == pytest.approx(ref)


def test_ssim_matches_skimage_if_available():
    metrics = pytest.importorskip("skimage.metrics")
    rng = np.random.default_rng(2)
    x = rng.random((20, 20))
    y = np.clip(x + rng.normal(scale=0.2, size=x.shape), 0, 1)
    ref = metrics.structural_similarity(
        x, y, data_range=1.0, gaussian_weights=True, sigma=1.5, use_sample_covariance=False
    )
    got = ssim(torch.from_numpy(x)[None, None], torch.from_numpy(y)[None, None])
    assert got.item() == pytest.approx(ref, abs=1e-8)


def test_ssim_too_small_raises():
    with pytest.raises(ShapeError, match="11x11"):
        ssim(torch.zeros(1, 1, 10, 16), torch.zeros(1, 1, 10, 16))


# ---- EPE / angular error


def _const_flow(u, v, h=2, w=3):
    f = torch.zeros(1, 2, h, w)
    f[:, 0], f[:, 1] = u, v
    return f


def test_epe_hand_built_with_mask():
    gt = torch.zeros(1, 2, 2, 2)
    flow = gt.clone()
    flow[0, :, 0, 0] = torch.tensor([3.0, 4.0])  # error 5
    flow[0, :, 1, 1] = torch.tensor([1.0, 0.0])  # error 1
    assert epe(flow, gt).item() == pytest.approx(6 / 4)
    mask = torch.tensor([[True, False], [False, True]]).view(1, 1, 2, 2)
    assert epe(flow, gt, mask).item() == pytest.approx(3.0)
    mask2 = torch.tensor([[False, True], [True, False]]).view(1, 1, 2, 2)
    assert epe(flow, gt, mask2).item() == 0.0
    assert epe(flow, flow).item() == 0.0


def test_epe_empty_mask_is_nan_per_sample_and_skipped_in_mean():
    gt = torch.zeros(2, 2, 2, 2)
    flow = gt + 1.0  # error sqrt(2) everywhere
    mask = torch.zeros(2, 1, 2, 2, dtype=torch.bool)
    mask[0, 0, 0, 0] = True  # second sample has no valid pixel
    per = epe(flow, gt, mask, reduction="none")
    assert per[0].item() == pytest.approx(math.sqrt(2)) and torch.isnan(per[1])
    assert epe(flow, gt, mask).item() == pytest.approx(math.sqrt(2))


def test_epe_bad_mask_shape_raises():
    with pytest.raises(ShapeError, match="mask"):
        epe(torch.zeros(1, 2, 4, 4), torch.zeros(1, 2, 4, 4), torch.ones(1, 2, 4, 4, dtype=bool))
    with pytest.raises(ShapeError, match="epe"):
        epe(torch.zeros(1, 3, 4, 4), torch.zeros(1, 3, 4, 4))


def test_angular_error_hand_built():
    zero = _const_flow(0.0, 0.0)
    assert angular_error(zero, zero).item() == 0.0
    f = torch.randn(1, 2, 3, 3)
    assert angular_error(f, f).item() == pytest.approx(0.0, abs=1e-4)
    # (1,0,1) vs (0,0,1): 45 deg; (1,0,1) vs (-1,0,1): 90 deg; (1,1,1) vs (0,0,1): acos(1/sqrt 3)
    assert angular_error(_const_flow(1.0, 0.0), zero).item() == pytest.approx(45.0)
    assert angular_error(_const_flow(1.0, 0.0), _const_flow(-1.0, 0.0)).item() == pytest.approx(
        90.0
    )
    expected = math.degrees(math.acos(1 / math.sqrt(3)))
    assert angular_error(_const_flow(1.0, 1.0), zero).item() == pytest.approx(expected)


def test_angular_error_with_mask():
    gt = torch.zeros(1, 2, 1, 2)
    flow = gt.clone()
    flow[0, 0, 0, 0] = 1.0  # 45 deg at the first pixel, 0 at the second
    mask = torch.tensor([True, False]).view(1, 1, 1, 2)
    assert angular_error(flow, gt).item() == pytest.approx(22.5)
    assert angular_error(flow, gt, mask).item() == pytest.approx(45.0)


# ---- flow_to_motion


def test_flow_to_motion_shape_sign_scale_nearest():
    flow = torch.zeros(2, 3, 2, 4, 5)  # (B, T, 2, h, w)
    flow[..., 0, 1, 2] = 1.5
    flow[..., 1, 1, 2] = -0.5
    m = flow_to_motion(flow)
    assert m.shape == (2, 3, 2, 8, 10)
    assert torch.equal(m[..., 0, 2:4, 4:6], torch.full((2, 3, 2, 2), -3.0))  # 2x2 block
    assert torch.equal(m[..., 1, 2:4, 4:6], torch.full((2, 3, 2, 2), 1.0))
    assert m.abs().sum() == (3.0 + 1.0) * 4 * 6
    assert flow_to_motion(flow, scale=1).shape == flow.shape


def test_flow_to_motion_bilinear_keeps_constant_fields():
    flow = _const_flow(0.25, -1.0, 3, 3)
    m = flow_to_motion(flow, scale=2, mode="bilinear")
    assert torch.allclose(m[:, 0], torch.full((1, 6, 6), -0.5))
    assert torch.allclose(m[:, 1], torch.full((1, 6, 6), 2.0))
    with pytest.raises(VstmError, match="mode"):
        flow_to_motion(flow, mode="bicubic")


def test_flow_to_motion_matches_what_warp_does_to_content():
    # A dot at column 3; warping with flow +1 (read the right-hand neighbour) moves it to
    # column 2: the content moved by -1 = flow_to_motion(flow, scale=1).
    x = torch.zeros(1, 1, 1, 6)
    x[..., 3] = 1.0
    flow = _const_flow(1.0, 0.0, 1, 6)
    y = warp(x, flow)
    moved = int(y[0, 0, 0].argmax()) - 3
    assert moved == -1
    assert flow_to_motion(flow, scale=1)[0, 0, 0, 3].item() == moved


# ---- ROC AUC and the movers check


def test_roc_auc_matches_pairwise_definition_with_ties():
    g = torch.Generator().manual_seed(0)
    scores = torch.randint(0, 5, (300,), generator=g).float()  # many ties
    labels = torch.rand(300, generator=g) < 0.3
    pos, neg = scores[labels], scores[~labels]
    diff = pos[:, None] - neg[None, :]
    expected = ((diff > 0).double() + 0.5 * (diff == 0).double()).mean().item()
    assert roc_auc(scores, labels) == pytest.approx(expected, abs=1e-12)
    assert roc_auc(-scores, labels) == pytest.approx(1 - expected, abs=1e-12)
    assert math.isnan(roc_auc(scores, torch.ones(300, dtype=torch.bool)))
    with pytest.raises(ShapeError, match="same shape"):
        roc_auc(scores, labels[:10])


def _moving_square_video(t: int = 6, size: int = 64, side: int = 24, speed: int = 1):
    """A textured square moving right by ``speed`` px/frame over a flat grey background.

    Returns frames (1, T, 1, H, W) and the true motion of frame t's content (1, T-1, 2, H, W).
    """
    g = torch.Generator().manual_seed(1)
    tex = torch.rand(side, side, generator=g)
    frames = torch.full((1, t, 1, size, size), 0.5)
    motion = torch.zeros(1, t - 1, 2, size, size)
    y0 = 20
    for k in range(t):
        x0 = 8 + k * speed
        frames[0, k, 0, y0 : y0 + side, x0 : x0 + side] = tex
        if k < t - 1:
            motion[0, k, 0, y0 : y0 + side, x0 : x0 + side] = float(speed)
    return frames, motion


def test_movers_auc_true_motion_near_one_random_flow_near_half():
    frames, motion = _moving_square_video()
    a, b = frames[:, :-1], frames[:, 1:]  # (1, T-1, 1, H, W) pairs t, t+1
    true_auc = movers_auc(motion, a, b)
    per = movers_auc(motion, a, b, reduction="none")
    assert per.shape == (1, 5)
    assert true_auc.item() > 0.95
    g = torch.Generator().manual_seed(2)
    random_auc = movers_auc(torch.randn(motion.shape, generator=g) * 3, a, b)
    assert abs(random_auc.item() - 0.5) < 0.05
    assert movers_auc(torch.zeros_like(motion), a, b).item() == 0.5
    # a flow that marks the still background instead of the mover scores below 0.5
    assert movers_auc(motion.max() - motion, a, b).item() < 0.1


def test_movers_auc_no_change_is_nan_and_bad_shapes_raise():
    x = torch.rand(2, 1, 16, 16)
    per = movers_auc(torch.rand(2, 2, 16, 16), x, x, reduction="none")
    assert per.shape == (2,) and bool(per.isnan().all())
    with pytest.raises(ShapeError, match="motion"):
        movers_auc(torch.rand(2, 2, 8, 8), x, x)
    with pytest.raises(ShapeError, match=r"\(\.\.\.,2,H,W\)"):
        movers_auc(torch.rand(2, 3, 16, 16), x, x)
