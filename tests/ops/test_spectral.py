"""The FFT convolution against F.conv2d (the reference), forward and backward."""

import pytest
import torch
import torch.nn.functional as F

from vstm.errors import ShapeError
from vstm.ops.spectral import SpectrumCache, fft_length, kernel_spectrum, spectral_conv2d


def test_fft_length_is_even_and_5_smooth():
    assert [fft_length(n) for n in (1, 2, 7, 38, 39, 49, 94)] == [2, 2, 8, 40, 40, 50, 96]


@pytest.mark.parametrize(
    ("n", "ci", "co", "h", "w", "k"),
    [(2, 3, 4, 9, 7, 5), (3, 8, 2, 32, 32, 7), (1, 2, 6, 5, 11, 3)],
)
def test_forward_matches_direct_convolution(n, ci, co, h, w, k):
    torch.manual_seed(0)
    x, weight, bias = torch.randn(n, ci, h, w), torch.randn(co, ci, k, k), torch.randn(co)
    y = spectral_conv2d(x, kernel_spectrum(weight, h, w), bias)
    ref = F.conv2d(x, weight, bias, padding=k // 2)
    assert y.shape == ref.shape
    assert (y - ref).abs().max() <= 1e-4


def test_large_batch_goes_through_in_chunks_with_the_same_numbers(monkeypatch):
    import vstm.ops.spectral as spectral

    monkeypatch.setattr(spectral, "BATCH_CHUNK", 3)
    torch.manual_seed(9)
    x = torch.randn(8, 4, 6, 6, requires_grad=True)
    w = torch.randn(5, 4, 3, 3, requires_grad=True)
    y = spectral_conv2d(x, kernel_spectrum(w, 6, 6))
    ref = F.conv2d(x, w, padding=1)
    assert (y - ref).abs().max() <= 1e-4
    got = torch.autograd.grad(y.square().sum(), [x, w])
    want = torch.autograd.grad(ref.square().sum(), [x, w])
    for a, b in zip(got, want, strict=True):
        assert (a - b).abs().max() <= 1e-4 * max(1.0, b.abs().max().item())


def test_gradients_match_direct_convolution_over_reused_spectrum():
    """One spectrum used at three 'time steps': the kernel gradient is the sum over them."""
    torch.manual_seed(1)
    xs = [torch.randn(4, 6, 12, 10, requires_grad=True) for _ in range(3)]
    weight = torch.randn(5, 6, 7, 7, requires_grad=True)
    bias = torch.randn(5, requires_grad=True)
    gs = [torch.randn(4, 5, 12, 10) for _ in range(3)]

    def grads(conv):
        loss = sum((conv(x) * g).sum() for x, g in zip(xs, gs, strict=True))
        return torch.autograd.grad(loss, [*xs, weight, bias])

    spec = None

    def fft(x):
        nonlocal spec
        spec = spec or kernel_spectrum(weight, 12, 10)
        return spectral_conv2d(x, spec, bias)

    got = grads(fft)
    want = grads(lambda x: F.conv2d(x, weight, bias, padding=3))
    for a, b in zip(got, want, strict=True):
        assert (a - b).abs().max() <= 1e-4 * max(1.0, b.abs().max().item())


def test_float64_gradcheck_on_input_weight_and_bias():
    torch.manual_seed(2)
    x = torch.randn(2, 3, 5, 4, dtype=torch.float64, requires_grad=True)
    w = torch.randn(2, 3, 3, 3, dtype=torch.float64, requires_grad=True)
    b = torch.randn(2, dtype=torch.float64, requires_grad=True)

    def f(x, w, b):
        spec = kernel_spectrum(w, 5, 4)
        return spectral_conv2d(x, spec, b) + 0.5 * spectral_conv2d(x.flip(-1), spec)

    assert torch.autograd.gradcheck(f, (x, w, b))


def test_wrong_map_size_names_both_shapes():
    spec = kernel_spectrum(torch.randn(2, 3, 3, 3), 8, 8)
    with pytest.raises(ShapeError, match=r"built for \(N, 3, 8, 8\), got x \(1, 3, 8, 9\)"):
        spectral_conv2d(torch.randn(1, 3, 8, 9), spec)
    with pytest.raises(ShapeError, match="k odd"):
        kernel_spectrum(torch.randn(2, 3, 4, 4), 8, 8)


def test_frozen_kernel_gets_no_gradient_and_input_still_does():
    torch.manual_seed(8)
    w = torch.randn(2, 3, 3, 3)
    x = torch.randn(1, 3, 6, 6, requires_grad=True)
    y = spectral_conv2d(x, kernel_spectrum(w, 6, 6))
    (gx,) = torch.autograd.grad(y.sum(), x)
    (ref,) = torch.autograd.grad(F.conv2d(x, w, padding=1).sum(), x)
    assert (gx - ref).abs().max() <= 1e-5


def test_spectrum_cache_builds_once_and_follows_every_change_of_the_kernel():
    torch.manual_seed(3)
    conv = torch.nn.Conv2d(4, 2, 5)
    w, cache = conv.weight, SpectrumCache()
    first = cache.get(w, 9, 7)
    assert cache.get(w, 9, 7) is first  # same values: reused
    assert first.w.requires_grad is False and first.token.requires_grad is False
    x = torch.randn(1, 4, 9, 7)

    def matches() -> bool:
        y = spectral_conv2d(x, cache.get(w, 9, 7))
        return bool((y - F.conv2d(x, w.detach(), padding=2)).abs().max() <= 1e-4)

    assert matches()
    with torch.no_grad():
        w.add_(0.5)  # an optimiser-style in-place update
    assert cache.get(w, 9, 7) is not first and matches()
    second = cache.get(w, 9, 7)
    w.data.copy_(torch.randn_like(w))  # through .data: no version bump, still seen
    assert cache.get(w, 9, 7) is not second and matches()
    conv.load_state_dict({"weight": torch.randn_like(w), "bias": conv.bias.detach()})
    assert matches()
    assert cache.get(w, 9, 8).width == 8  # another map size: rebuilt for it
    assert cache.get(w.double(), 9, 8).w.dtype == torch.complex128


def test_spectrum_cache_built_in_inference_mode_serves_later_no_grad_calls():
    w, cache = torch.randn(2, 3, 5, 5), SpectrumCache()
    x = torch.randn(1, 3, 8, 8)
    with torch.inference_mode():
        a = spectral_conv2d(x, cache.get(w, 8, 8))
    with torch.no_grad():
        b = spectral_conv2d(x, cache.get(w, 8, 8))
    assert torch.equal(a, b)
