"""The one place that picks a kernel for each convolution (``lstm_impl``, ``flow_impl``)."""

import pytest
import torch
import torch.nn.functional as F

from vstm.ops.gemm import conv2d_same_gemm
from vstm.ops.select import (
    reduced_precision_autocast,
    same_conv2d,
    sequence_spectrum,
    use_fft,
    use_gemm,
)
from vstm.ops.spectral import KernelSpectrum


def test_auto_picks_fft_only_where_it_pays():
    w = torch.empty(256, 80, 7, 7)  # the paper's 80->256 7x7 gate kernel
    assert use_fft("auto", w, 16, 32, 32)  # the paper model at 64x64, batch 16
    assert not use_fft("auto", w, 1, 32, 32)  # streaming: matrix-vector products
    assert not use_fft("auto", w, 16, 64, 64)  # 128x128 frames: a 437 MiB spectrum
    assert not use_fft("auto", torch.empty(32, 12, 3, 3), 16, 32, 32)  # small kernels
    assert not use_fft("direct", w, 16, 32, 32)
    assert use_fft("fft", w, 1, 32, 32)


def test_auto_keeps_the_direct_convolution_under_16_bit_autocast():
    w = torch.empty(256, 80, 7, 7)
    assert not reduced_precision_autocast("cpu")
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert reduced_precision_autocast("cpu")
        assert not use_fft("auto", w, 16, 32, 32)
        assert use_fft("fft", w, 16, 32, 32)  # forcing still wins


def test_sequence_spectrum_only_where_the_fft_is_picked():
    w = torch.randn(8, 6, 5, 5)
    spec = sequence_spectrum("fft", w, 2, 9, 7)
    assert isinstance(spec, KernelSpectrum) and (spec.height, spec.width) == (9, 7)
    assert sequence_spectrum("direct", w, 2, 9, 7) is None
    assert sequence_spectrum("auto", w, 1, 9, 7) is None  # batch 1


@pytest.mark.parametrize(("impl", "gemm"), [("gemm", True), ("direct", False), ("auto", True)])
def test_same_conv2d_runs_the_kernel_use_gemm_names(impl, gemm, monkeypatch):
    assert use_gemm(impl, "cpu") == gemm
    assert use_gemm("auto", "cuda") is False and use_gemm("gemm", "cuda") is True
    calls = []

    def spy(*args):
        calls.append(1)
        return conv2d_same_gemm(*args)

    monkeypatch.setattr("vstm.ops.select.conv2d_same_gemm", spy)
    torch.manual_seed(0)
    x, w, b = torch.randn(2, 6, 9, 7), torch.randn(2, 6, 5, 5), torch.randn(2)
    y = same_conv2d(x, w, b, impl)
    assert bool(calls) == gemm
    ref = F.conv2d(x, w, b, padding=2)
    if gemm:
        assert (y - ref).abs().max() <= 1e-4
    else:
        assert torch.equal(y, ref)
