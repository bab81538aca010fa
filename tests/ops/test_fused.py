"""The fused element-wise tails against the plain expressions they replace."""

import torch
import torch.nn.functional as F

from vstm.nn import SpatialEncoder
from vstm.ops.fused import conv_tanh_pool, lstm_update


def _plain_lstm(gates, c):
    i, f, g, o = gates.chunk(4, dim=1)
    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(c), c


def _plain_encoder(x, w, b):
    return F.max_pool2d(torch.tanh(F.conv2d(x, w, b, padding=w.shape[-1] // 2)), 2)


def test_lstm_update_gradcheck_in_float64():
    torch.manual_seed(0)
    gates = torch.randn(2, 12, 3, 4, dtype=torch.float64, requires_grad=True)
    c = torch.randn(2, 3, 3, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lstm_update, (gates, c))


def test_lstm_update_matches_the_plain_expressions_over_steps():
    torch.manual_seed(1)
    gates = [torch.randn(2, 16, 5, 5, requires_grad=True) * 3 for _ in range(4)]
    results = []
    for update in (lstm_update, _plain_lstm):
        c = torch.zeros(2, 4, 5, 5)
        hs = []
        for g in gates:
            h, c = update(g, c)
            hs.append(h)
        loss = torch.stack(hs).square().sum() + c.sum()
        results.append((*hs, c, *torch.autograd.grad(loss, gates)))
    for a, b in zip(*results, strict=True):
        assert (a - b).abs().max() <= 1e-5


def test_conv_tanh_pool_same_values_and_gradients_even_when_tanh_saturates():
    torch.manual_seed(2)
    x = torch.rand(3, 2, 8, 6, requires_grad=True)
    w = (torch.randn(4, 2, 5, 5) * 4).requires_grad_()  # large: many values saturate tanh
    b = torch.randn(4, requires_grad=True)
    ours, ref = conv_tanh_pool(x, w, b), _plain_encoder(x, w, b)
    assert torch.equal(ours, ref) and (ref.abs() == 1).any()
    g = torch.randn_like(ref)
    for a, r in zip(
        torch.autograd.grad(ours, (x, w, b), g), torch.autograd.grad(ref, (x, w, b), g), strict=True
    ):
        assert (a - r).abs().max() <= 1e-4 * max(1.0, r.abs().max().item())


def test_conv_tanh_pool_gradcheck_in_float64():
    torch.manual_seed(3)
    x = torch.rand(2, 2, 6, 4, dtype=torch.float64, requires_grad=True)
    w = torch.randn(3, 2, 3, 3, dtype=torch.float64, requires_grad=True)
    b = torch.randn(3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(conv_tanh_pool, (x, w, b))


def test_encoder_impls_agree_and_odd_sizes_fall_back():
    torch.manual_seed(4)
    fused, plain = SpatialEncoder(1, 16, 7), SpatialEncoder(1, 16, 7, impl="direct")
    plain.load_state_dict(fused.state_dict())
    frames = torch.rand(4, 1, 64, 64)
    assert torch.equal(fused(frames), plain(frames))
    odd = torch.rand(1, 1, 9, 8)
    assert torch.equal(fused(odd), plain(odd))


def test_encoder_under_bf16_autocast_gives_float32_gradients():
    enc = SpatialEncoder(1, 4, 5)
    frames = torch.rand(2, 1, 8, 8)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = enc(frames)
    assert out.dtype == torch.bfloat16
    out.float().sum().backward()
    assert enc.conv.weight.grad.dtype == torch.float32 and enc.conv.bias.grad.dtype == torch.float32
