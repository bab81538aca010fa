"""The GEMM convolution (Θ's kernel) against the direct convolution (``F.conv2d``), forward and
backward.

Reference values come from ``torch.nn.functional.conv2d`` in float64; the fast path must match
it to 1e-4 in float32 at the model's scale (tanh features in [-1, 1], Xavier weights) and to
1e-9 in float64, where only summation order differs.
"""

import pytest
import torch
import torch.nn.functional as F

from vstm.errors import ShapeError
from vstm.ops.gemm import conv2d_same_gemm


def _case(n, ci, co, k, h, w, dtype, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = (torch.rand(n, ci, h, w, generator=g, dtype=torch.float64) * 2 - 1).to(dtype)
    bound = (6 / ((ci + co) * k * k)) ** 0.5  # Xavier-uniform, as Θ is initialised
    wt = ((torch.rand(co, ci, k, k, generator=g, dtype=torch.float64) * 2 - 1) * bound).to(dtype)
    b = torch.randn(co, generator=g, dtype=torch.float64).to(dtype)
    gy = torch.randn(n, co, h, w, generator=g, dtype=torch.float64).to(dtype)
    return x, wt, b, gy


def _grads(fn, x, wt, b, gy):
    x, wt, b = (t.detach().clone().requires_grad_() for t in (x, wt, b))
    y = fn(x, wt, b)
    return (y, *torch.autograd.grad(y, (x, wt, b), gy))


def _direct(x, wt, b):
    return F.conv2d(x, wt, b, padding=wt.shape[-1] // 2)


# Θ's two layers at the paper's size (64->2 and 2->2, 15x15, 32x32 maps), non-square maps,
# maps smaller than the kernel, and the other shapes the two GEMM forms choose between.
SHAPES = [
    (3, 64, 2, 15, 32, 32),
    (3, 2, 2, 15, 32, 32),
    (2, 64, 2, 15, 9, 22),
    (2, 2, 2, 15, 5, 4),
    (2, 16, 1, 7, 12, 10),
    (2, 1, 16, 7, 9, 9),
    (1, 5, 7, 3, 6, 9),
    (2, 3, 3, 1, 4, 4),
]


@pytest.mark.parametrize("shape", SHAPES)
def test_gemm_conv_matches_direct_float32(shape):
    x, wt, b, gy = _case(*shape, dtype=torch.float64)
    ref = _grads(_direct, x, wt, b, gy)  # float64 reference
    got = _grads(conv2d_same_gemm, x.float(), wt.float(), b.float(), gy.float())
    for name, r, a in zip(("out", "d_x", "d_weight", "d_bias"), ref, got, strict=True):
        assert a.dtype == torch.float32 and a.shape == r.shape, name
        err = (a.double() - r).abs().max().item()
        assert err <= 1e-4, f"{name}: max abs diff {err:.2e} for shape {shape}"


@pytest.mark.parametrize("shape", SHAPES[:4])
def test_gemm_conv_matches_direct_float64(shape):
    x, wt, b, gy = _case(*shape, dtype=torch.float64, seed=1)
    ref, got = _grads(_direct, x, wt, b, gy), _grads(conv2d_same_gemm, x, wt, b, gy)
    for r, a in zip(ref, got, strict=True):
        assert (a - r).abs().max().item() <= 1e-9


def test_gemm_conv_gradcheck():
    x, wt, b, _ = _case(1, 3, 2, 5, 6, 5, dtype=torch.float64, seed=2)
    inputs = tuple(t.requires_grad_() for t in (x, wt, b))
    assert torch.autograd.gradcheck(conv2d_same_gemm, inputs)


def test_gemm_conv_channels_last_and_no_bias():
    x, wt, _, _ = _case(2, 64, 2, 15, 16, 16, dtype=torch.float32, seed=3)
    ref = F.conv2d(x.double(), wt.double(), padding=7)
    got = conv2d_same_gemm(x.contiguous(memory_format=torch.channels_last), wt)
    assert (got.double() - ref).abs().max() <= 1e-4


def test_gemm_conv_rejects_bad_shapes():
    with pytest.raises(ShapeError, match="same Ci"):
        conv2d_same_gemm(torch.rand(1, 3, 8, 8), torch.rand(2, 4, 3, 3))
    with pytest.raises(ShapeError, match="odd"):
        conv2d_same_gemm(torch.rand(1, 3, 8, 8), torch.rand(2, 3, 4, 4))


def test_gemm_conv_under_bf16_autocast_computes_in_float32():
    x, wt, b, _ = _case(2, 64, 2, 15, 8, 8, dtype=torch.float32, seed=4)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = conv2d_same_gemm(x, wt, b)
    assert y.dtype == torch.float32
    assert (y - F.conv2d(x, wt, b, padding=7)).abs().max() <= 1e-4
