"""Same-padded convolution computed with matrix products, for Θ's few-channel 15x15 layers.

Θ's two 15x15 layers have very few channels on one side (64->2, then 2->2). oneDNN's direct
convolution runs shapes like these at a few GFLOP/s on a CPU, against ~60 GFLOP/s per core for
the ConvLSTM's 7x7 convolution, so on a CPU the 3% of the model's FLOPs that sit in Θ took a
third of a training step. :func:`conv2d_same_gemm` computes the same convolution as a handful
of large matrix products.

Whether a convolution takes this path is decided in :mod:`vstm.ops.select`, not here.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from vstm.errors import check_same_conv

__all__ = ["conv2d_same_gemm"]

_SCATTER_BYTES = 16 * 2**20
"""Working-set budget of one chunk of the scatter form's (n, k*k*Co, H*W) product."""


def _row_windows(t: torch.Tensor, k: int) -> torch.Tensor:
    """Horizontal windows of ``t`` zero-padded by k//2: (N, C, H, W) -> (N, C, k, H+k-1, W).

    ``out[n, c, j, r, x] = pad(t)[n, c, r, x + j]``. Row block ``r in [i, i+H)`` of it, seen
    as (N, C*k, H*W), is the input of kernel row i as one matrix, with no further copy
    (:func:`_rows`). It holds k copies of the padded map: cheap for the few-channel side.
    """
    p = k // 2
    tp = F.pad(t, (p, p, p, p))  # (N, C, H+2p, W+2p)
    n, c, hp, _ = tp.shape
    w = t.shape[-1]
    s = tp.stride()
    return tp.as_strided((n, c, k, hp, w), (s[0], s[1], s[3], s[2], s[3])).contiguous()


def _rows(win: torch.Tensor, i: int, h: int) -> torch.Tensor:
    """Kernel row ``i`` of :func:`_row_windows`' output as a (N, C*k, H*W) strided view."""
    n, c, k, _, w = win.shape
    return win[:, :, :, i : i + h].reshape(n, c * k, h * w)


def _conv_window(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """Same-padded cross-correlation, one GEMM per kernel row over row windows of ``x``.

    x (N, Ci, H, W), w (Co, Ci, k, k) -> (N, Co, H, W). Good when Ci is small.
    """
    n, ci, h, wd = x.shape
    co, _, k, _ = w.shape
    win = _row_windows(x, k)  # (N, Ci, k, H+2p, W)
    out = x.new_zeros(n, co, h * wd)
    for i in range(k):
        wi = w[:, :, i, :].reshape(co, ci * k)  # (Co, Ci*k), columns (c, j)
        out.baddbmm_(wi.expand(n, co, ci * k), _rows(win, i, h))
    return out.view(n, co, h, wd)


def _shift_add(z: torch.Tensor, out: torch.Tensor, rows: torch.Tensor) -> None:
    """``out[n, o, y, x] += sum_ij z[n, i, j, o, y + i - k//2, x + j - k//2]`` (zeros outside).

    z (n, k, k, Co, H, W), out (n, Co, H, W), rows: scratch (n, k, Co, H, W). Separable: k
    shifted adds along x into ``rows``, then k along y; 2k tensor ops instead of k*k.
    """
    k, h, wd = z.shape[1], z.shape[4], z.shape[5]
    p = k // 2
    rows.zero_()  # rows[:, i] = sum_j z[:, i, j] shifted by j - p in x
    for j in range(k):
        d = j - p
        x0, x1 = max(0, -d), min(wd, wd - d)
        if x0 < x1:
            rows[..., x0:x1] += z[:, :, j, :, :, x0 + d : x1 + d]
    for i in range(k):
        d = i - p
        y0, y1 = max(0, -d), min(h, h - d)
        if y0 < y1:
            out[:, :, y0:y1] += rows[:, i, :, y0 + d : y1 + d]


def _conv_scatter(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """Same-padded cross-correlation as one GEMM then a shift-and-add of k*k planes.

    ``z[n, (i, j, o), p] = sum_c w[o, c, i, j] x[n, c, p]`` (a 1x1 convolution with k*k*Co
    outputs), then ``out[n, o, y, x] = sum_ij z[n, (i, j, o), y + i - k//2, x + j - k//2]``.
    Runs in chunks of frames through buffers allocated once, so that z stays in cache and
    no chunk pays for fresh pages.
    x (N, Ci, H, W), w (Co, Ci, k, k) -> (N, Co, H, W). Good when Co is small and Ci large.
    """
    n, ci, h, wd = x.shape
    co, _, k, _ = w.shape
    wk = w.permute(2, 3, 0, 1).reshape(k * k * co, ci)  # rows (i, j, o)
    out = x.new_zeros(n, co, h, wd)
    chunk = min(n, max(1, _SCATTER_BYTES // (k * k * co * h * wd * x.element_size())))
    z = x.new_empty(chunk, k * k * co, h * wd)
    rows = x.new_empty(chunk, k, co, h, wd)
    for s in range(0, n, chunk):
        m = min(chunk, n - s)
        for f in range(m):
            torch.mm(wk, x[s + f].reshape(ci, h * wd), out=z[f])  # (k*k*Co, H*W)
        _shift_add(z[:m].view(m, k, k, co, h, wd), out[s : s + m], rows[:m])
    return out


def _conv(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """Same-padded cross-correlation (N, Ci, H, W) -> (N, Co, H, W), the cheaper GEMM form."""
    co, ci = w.shape[:2]
    return _conv_scatter(x, w) if ci > 2 * co else _conv_window(x, w)


def _weight_grad(g: torch.Tensor, x: torch.Tensor, k: int) -> torch.Tensor:
    """``gw[o, c, i, j] = sum_{n, y, x} g[n, o, y, x] pad(x)[n, c, y + i, x + j]``, (Co, Ci, k, k).

    Row windows go on whichever of ``g`` (N, Co, H, W) and ``x`` (N, Ci, H, W) has fewer
    channels; the other side is read in place.
    """
    n, co, h, wd = g.shape
    ci = x.shape[1]
    res = []
    if co <= ci:  # windows on g: sum_n g_win (Co*k, L) @ x^T (L, Ci) gives the flipped kernel
        win = _row_windows(g, k)
        xt = x.reshape(n, ci, h * wd).transpose(1, 2)  # (N, L, Ci)
        for i in range(k):
            res.append(torch.bmm(_rows(win, i, h), xt).sum(0))  # (Co*k, Ci), rows (o, j)
        gw = torch.stack(res).view(k, co, k, ci)  # [i', o, j', c] of the flipped kernel
        return gw.permute(1, 3, 0, 2).flip(-1, -2)
    win = _row_windows(x, k)
    g2 = g.reshape(n, co, h * wd)
    for i in range(k):
        res.append(torch.bmm(g2, _rows(win, i, h).transpose(1, 2)).sum(0))  # (Co, Ci*k)
    return torch.stack(res).view(k, co, ci, k).permute(1, 2, 0, 3)


class _SameConvGemm(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None) -> torch.Tensor:
        ctx.save_for_backward(x, w)
        ctx.has_bias = b is not None
        out = _conv(x, w)
        if b is not None:
            out += b.view(1, -1, 1, 1)
        return out

    @staticmethod
    def backward(ctx, g: torch.Tensor):
        x, w = ctx.saved_tensors
        g = g.contiguous()
        k = w.shape[-1]
        gx = gw = gb = None
        if ctx.needs_input_grad[0]:
            # the input gradient of a same-padded odd-k convolution is the same convolution
            # of g with the kernel transposed in channels and flipped in space
            gx = _conv(g, w.transpose(0, 1).flip(-1, -2))
        if ctx.needs_input_grad[1]:
            gw = _weight_grad(g, x, k)
        if ctx.has_bias and ctx.needs_input_grad[2]:
            gb = g.sum((0, 2, 3))
        return gx, gw, gb


def conv2d_same_gemm(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None
) -> torch.Tensor:
    """``F.conv2d(x, weight, bias, padding=k // 2)`` (stride 1, odd k) computed with GEMMs.

    Forward and both gradients are matrix products plus cheap memory moves, picked by the
    channel counts: with few input channels, one GEMM per kernel row over horizontal windows
    of the zero-padded input; with few output channels, a 1x1 convolution to k*k*Co planes
    followed by a shift-and-add. No (N, Ci*k*k, H*W) im2col buffer is ever built. Same numbers
    as the direct convolution up to float rounding (summation order). Under autocast it runs
    and returns float32: the k*k partial sums would lose bits in bfloat16, and Θ holds 3% of
    the model's FLOPs. Not twice differentiable.

    Args:
        x: (N, Ci, H, W).
        weight: (Co, Ci, k, k), k odd.
        bias: (Co,) or None.

    Returns:
        (N, Co, H, W).

    >>> import torch, torch.nn.functional as F
    >>> x, w = torch.randn(2, 8, 9, 7), torch.randn(2, 8, 5, 5)
    >>> bool(torch.allclose(conv2d_same_gemm(x, w), F.conv2d(x, w, padding=2), atol=1e-4))
    True
    """
    check_same_conv("conv2d_same_gemm", x, weight)
    dev = x.device.type
    if torch.is_autocast_enabled(dev):  # float32 inside: k*k partial sums, few FLOPs
        bias = None if bias is None else bias.float()
        with torch.autocast(dev, enabled=False):
            return _SameConvGemm.apply(x.float(), weight.float(), bias)
    if weight.dtype != x.dtype:
        weight = weight.to(x.dtype)
        bias = None if bias is None else bias.to(x.dtype)
    return _SameConvGemm.apply(x, weight, bias)
