"""The one place that picks a kernel for each convolution (``lstm_impl``, ``flow_impl``)."""

import pytest
import torch
import torch.nn.functional as F

from vstm.ops import select
from vstm.ops.select import (
    flow_kernel,
    reduced_precision_autocast,
    same_conv2d,
    sequence_spectrum,
    use_fft,
)
from vstm.ops.spectral import KernelSpectrum, SpectrumCache


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


def test_flow_kernel_trains_on_gemms_and_streams_through_the_fft_on_cpu():
    w = torch.randn(2, 64, 15, 15, requires_grad=True)  # Θ's first layer, a parameter
    x = torch.empty(1, 64, 32, 32)
    assert flow_kernel("auto", x, w) == "gemm"  # training: the weight wants a gradient
    with torch.no_grad():
        assert flow_kernel("auto", x, w) == "fft"
    with torch.inference_mode():
        assert flow_kernel("auto", x, w) == "fft"
    frozen = w.detach()
    assert flow_kernel("auto", x, frozen) == "fft"  # grad mode, but nothing wants one
    assert flow_kernel("auto", x.requires_grad_(), frozen) == "gemm"
    off_cpu = torch.empty(1, 64, 32, 32, device="meta")
    assert flow_kernel("auto", off_cpu, w) == "direct"  # GPUs keep cuDNN
    for impl in ("direct", "gemm", "fft"):
        assert flow_kernel(impl, x, w) == impl and flow_kernel(impl, off_cpu, w) == impl


@pytest.mark.parametrize(
    ("impl", "grad", "runs"),
    [
        ("gemm", True, "gemm"),
        ("fft", True, "fft"),
        ("direct", True, "direct"),
        ("auto", True, "gemm"),
        ("auto", False, "fft"),
    ],
)
def test_same_conv2d_runs_the_kernel_flow_kernel_names(impl, grad, runs, monkeypatch):
    calls = []

    def spy(name, fn):
        def wrapped(*args):
            calls.append(name)
            return fn(*args)

        return wrapped

    monkeypatch.setattr(select, "conv2d_same_gemm", spy("gemm", select.conv2d_same_gemm))
    monkeypatch.setattr(select, "spectral_conv2d", spy("fft", select.spectral_conv2d))
    torch.manual_seed(0)
    x, w, b = torch.randn(2, 6, 9, 7), torch.randn(2, 6, 5, 5), torch.randn(2)
    w.requires_grad_(grad)
    y = same_conv2d(x, w, b, impl, SpectrumCache())
    assert calls == ([] if runs == "direct" else [runs])
    ref = F.conv2d(x, w, b, padding=2)
    if runs == "direct":
        assert torch.equal(y, ref)
    else:
        assert (y - ref).abs().max() <= 1e-4
    if grad and runs == "fft":  # the forced FFT trains: gradients reach the weight
        (gw,) = torch.autograd.grad(y.square().sum(), w)
        (gref,) = torch.autograd.grad(ref.square().sum(), w)
        assert (gw - gref).abs().max() <= 1e-4 * gref.abs().max()


def test_vstm_bench_offers_every_kernel_choice():
    import argparse

    from vstm.cli.bench import add_arguments
    from vstm.ops.select import CONV_IMPLS, FLOW_IMPLS

    p = argparse.ArgumentParser()
    add_arguments(p)
    choices = {a.dest: set(a.choices) for a in p._actions if a.choices}
    assert choices["flow_impl"] == set(FLOW_IMPLS) and choices["lstm_impl"] == set(CONV_IMPLS)
