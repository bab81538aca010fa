"""The paper boxes' element-wise tails, fused into single autograd nodes that keep less.

- :func:`lstm_update`: eq. 1's gate non-linearities and state update. Autograd through the
  plain expressions keeps five gate-sized tensors per step (three sigmoids, two tanhs); this
  keeps the four activations and recomputes tanh(c) on backward.
- :func:`conv_tanh_pool`: E's convolution, tanh and 2x2 max-pool. tanh is increasing, so
  ``max_pool(tanh(y)) == tanh(max_pool(y))``: pooling first takes the tanh of a quarter of
  the values, and the backward pass needs only the pooled output and which of the four
  pixels won (one byte each) instead of the full-size tanh map and int64 indices.

Both compute the same values as the plain expressions (tested forward and backward, and by
float64 gradcheck). Training the paper model at batch 16 x 10 frames keeps about 100 MB less.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.autograd.function import once_differentiable

__all__ = ["conv_tanh_pool", "lstm_update"]


class _LSTMUpdate(torch.autograd.Function):
    @staticmethod
    def forward(ctx, gates: torch.Tensor, c: torch.Tensor):
        hc = c.shape[1]
        i_f = torch.sigmoid(gates[:, : 2 * hc])
        g = torch.tanh(gates[:, 2 * hc : 3 * hc])
        o = torch.sigmoid(gates[:, 3 * hc :])
        i, f = i_f.split(hc, dim=1)
        c_new = torch.addcmul(f * c, i, g)
        h = o * torch.tanh(c_new)
        ctx.save_for_backward(i_f, g, o, c, c_new)
        return h, c_new

    @staticmethod
    @once_differentiable
    def backward(ctx, gh: torch.Tensor, gc: torch.Tensor):
        # autograd hands zeros, not None, for an output that was not used
        i_f, g, o, c, c_new = ctx.saved_tensors
        i, f = i_f.split(c.shape[1], dim=1)
        tc = torch.tanh(c_new)
        dc = torch.addcmul(gc, gh * o, 1 - tc * tc)  # c's own gradient, and through h
        go = gh * tc
        grads = torch.cat(
            (
                dc * g * i * (1 - i),  # i: sigmoid' = s (1 - s)
                dc * c * f * (1 - f),  # f
                dc * i * (1 - g * g),  # g: tanh' = 1 - t^2
                go * o * (1 - o),  # o
            ),
            dim=1,
        )
        return grads, dc * f


def lstm_update(gates: torch.Tensor, c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Eq. 1's state update from the gate pre-activations.

    Args:
        gates: (B, 4*hidden, H, W) pre-activations in the order i, f, g (the candidate), o.
        c: (B, hidden, H, W) the previous cell state.

    Returns:
        (h, c_new): ``c_new = sigmoid(f) * c + sigmoid(i) * tanh(g)``,
        ``h = sigmoid(o) * tanh(c_new)``, each (B, hidden, H, W).

    >>> import torch
    >>> gates, c = torch.randn(2, 8, 3, 3), torch.randn(2, 2, 3, 3)
    >>> i, f, g, o = gates.chunk(4, dim=1)
    >>> c_ref = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    >>> h, c_new = lstm_update(gates, c)
    >>> bool(torch.allclose(c_new, c_ref, atol=1e-6))
    True
    """
    return _LSTMUpdate.apply(gates, c)


class _ConvTanhPool(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None):
        y = F.conv2d(x, weight, bias, padding=weight.shape[-1] // 2)
        pooled, idx = F.max_pool2d(y, 2, return_indices=True)
        out = torch.tanh(pooled)
        # which of the 2x2 pixels won, 0..3 (row parity * 2 + column parity), one byte each
        w_in = y.shape[-1]
        which = ((idx // w_in) % 2 * 2 + idx % 2).to(torch.uint8)
        ctx.save_for_backward(x, weight, out, which)
        ctx.has_bias, ctx.in_shape, ctx.conv_dtype = bias is not None, y.shape, y.dtype
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, g: torch.Tensor):
        x, weight, out, which = ctx.saved_tensors
        gp = g * (1 - out * out)  # through tanh, at the pooled values
        n, c, h, w = gp.shape
        gy = gp.new_zeros(n, c, h, 2, w, 2)
        for a in range(2):
            for b in range(2):
                gy[:, :, :, a, :, b] = gp * (which == 2 * a + b)
        # the convolution's gradients in the type it ran in (bf16 under autocast), as
        # autograd through autocast's casts would compute them
        dt = ctx.conv_dtype
        gy = gy.view(ctx.in_shape).to(dt)
        pad = weight.shape[-1] // 2
        gx = gw = gb = None
        if ctx.needs_input_grad[0]:
            gx = torch.nn.grad.conv2d_input(x.shape, weight.to(dt), gy, padding=pad).to(x.dtype)
        if ctx.needs_input_grad[1]:
            gw = torch.nn.grad.conv2d_weight(x.to(dt), weight.shape, gy, padding=pad)
            gw = gw.to(weight.dtype)
        if ctx.has_bias and ctx.needs_input_grad[2]:
            gb = gy.sum((0, 2, 3)).to(weight.dtype)
        return gx, gw, gb


def conv_tanh_pool(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None
) -> torch.Tensor:
    """``F.max_pool2d(torch.tanh(F.conv2d(x, weight, bias, padding=k // 2)), 2)``.

    Args:
        x: (N, Ci, H, W), H and W even.
        weight: (Co, Ci, k, k), k odd.
        bias: (Co,) or None.

    Returns:
        (N, Co, H/2, W/2).

    >>> import torch, torch.nn.functional as F
    >>> x, w = torch.randn(2, 1, 8, 6), torch.randn(3, 1, 5, 5)
    >>> ref = F.max_pool2d(torch.tanh(F.conv2d(x, w, padding=2)), 2)
    >>> bool(torch.equal(conv_tanh_pool(x, w), ref))
    True
    """
    return _ConvTanhPool.apply(x, weight, bias)
