"""The decoder's upsample-then-convolve at low resolution against the plain form."""

import pytest
import torch
import torch.nn.functional as F

from vstm.errors import ShapeError
from vstm.nn import SpatialDecoder
from vstm.ops.upsample import phase_kernels, up2_conv2d


def _plain(x, w, b):
    return F.conv2d(
        F.interpolate(x, scale_factor=2, mode="nearest"), w, b, padding=w.shape[-1] // 2
    )


@pytest.mark.parametrize(("k", "h", "w"), [(7, 32, 32), (5, 9, 6), (3, 4, 7), (1, 3, 3), (9, 5, 5)])
def test_same_function_and_gradients_in_float64(k, h, w):
    torch.manual_seed(k)
    x = torch.randn(2, 4, h, w, dtype=torch.float64, requires_grad=True)
    wt = torch.randn(3, 4, k, k, dtype=torch.float64, requires_grad=True)
    b = torch.randn(3, dtype=torch.float64, requires_grad=True)
    g = torch.randn(2, 3, 2 * h, 2 * w, dtype=torch.float64)
    ours, ref = up2_conv2d(x, wt, b), _plain(x, wt, b)
    assert ours.shape == ref.shape == (2, 3, 2 * h, 2 * w)
    assert (ours - ref).abs().max() <= 1e-12
    for a, r in zip(
        torch.autograd.grad(ours, (x, wt, b), g),
        torch.autograd.grad(ref, (x, wt, b), g),
        strict=True,
    ):
        assert (a - r).abs().max() <= 1e-10


def test_phase_kernels_keep_every_tap_once():
    w = torch.randn(2, 3, 7, 7)
    w4 = phase_kernels(w)
    assert w4.shape == (8, 3, 5, 5)
    # each phase kernel sums all 49 taps of its source kernel exactly once
    sums = w4.view(2, 4, 3, 25).sum(-1)
    assert torch.allclose(sums, w.sum((-1, -2))[:, None, :].expand(2, 4, 3), atol=1e-5)


def test_decoder_impls_share_parameters_and_agree_in_float32():
    torch.manual_seed(0)
    fast, plain = SpatialDecoder(16, 1, 7), SpatialDecoder(16, 1, 7, impl="direct")
    plain.load_state_dict(fast.state_dict())
    x = torch.rand(4, 16, 32, 32) * 2 - 1
    assert (fast(x) - plain(x)).abs().max() <= 1e-5
    with pytest.raises(ValueError, match="impl"):
        SpatialDecoder(impl="fast")


def test_wrong_shapes_name_the_problem():
    with pytest.raises(ShapeError, match="same Ci"):
        up2_conv2d(torch.randn(1, 3, 4, 4), torch.randn(2, 4, 3, 3))
    with pytest.raises(ShapeError, match="odd"):
        up2_conv2d(torch.randn(1, 3, 4, 4), torch.randn(2, 3, 4, 4))


def test_under_bf16_autocast_the_phase_kernels_are_summed_in_float32(monkeypatch):
    import vstm.ops.upsample as upsample

    seen = []

    def spy(weight):
        out = phase_kernels(weight)
        seen.append(out.dtype)
        return out

    monkeypatch.setattr(upsample, "phase_kernels", spy)
    torch.manual_seed(1)
    x, w, b = torch.rand(2, 16, 8, 8), torch.randn(1, 16, 7, 7) * 0.1, torch.randn(1)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        ours, ref = up2_conv2d(x, w, b), _plain(x, w, b)
    assert seen == [torch.float32] and ours.dtype == ref.dtype == torch.bfloat16
    assert (ours.float() - ref.float()).abs().max() <= 0.05 * ref.float().abs().max()
