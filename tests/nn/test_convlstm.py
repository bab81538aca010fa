"""The fused ConvLSTM cell against a slow reference with eight separate convolutions, and its
sequence runner on either gate convolution (``impl``)."""

import torch
import torch.nn.functional as F

from vstm.nn import ConvLSTM, ConvLSTMCell


def reference_step(cell: ConvLSTMCell, x, h, c):
    """Eq. 1 written out: x*w_x? + h*w_h? + b_? for each gate, with the cell's weights."""
    w, b = cell.conv.weight, cell.conv.bias
    cin, hc, pad = cell.in_channels, cell.hidden_channels, cell.kernel_size // 2
    gates = []
    for k in range(4):  # i, f, g, o
        wx = w[k * hc : (k + 1) * hc, :cin]
        wh = w[k * hc : (k + 1) * hc, cin:]
        gates.append(
            F.conv2d(x, wx, padding=pad)
            + F.conv2d(h, wh, padding=pad)
            + b[k * hc : (k + 1) * hc].view(1, -1, 1, 1)
        )
    i, f, g, o = (
        torch.sigmoid(gates[0]),
        torch.sigmoid(gates[1]),
        torch.tanh(gates[2]),
        torch.sigmoid(gates[3]),
    )
    c = f * c + i * g
    return o * torch.tanh(c), c


def test_fused_cell_matches_eight_convolution_reference():
    torch.manual_seed(0)
    cell = ConvLSTMCell(5, 8, 7)
    x = torch.rand(2, 5, 12, 10)
    h0, c0 = torch.randn(2, 8, 12, 10), torch.randn(2, 8, 12, 10)
    h, c = cell(x, (h0, c0))
    hr, cr = reference_step(cell, x, h0, c0)
    assert (h - hr).abs().max() <= 1e-5
    assert (c - cr).abs().max() <= 1e-5


def test_sequence_equals_carried_single_steps():
    torch.manual_seed(1)
    lstm = ConvLSTM(3, 6, 5)
    xs = torch.rand(2, 4, 3, 8, 8)
    hs, (_h, c) = lstm(xs)
    state = None
    for t in range(4):
        state = lstm.cell(xs[:, t], state)
        assert torch.allclose(hs[:, t], state[0], atol=1e-6)
    assert torch.allclose(c, state[1], atol=1e-6)


def test_initialisation_follows_section_4():
    cell = ConvLSTMCell(16, 64, 7)
    assert cell.conv.weight.abs().max() <= 0.08
    assert cell.conv.weight.std() > 0.04  # uniform(-0.08, 0.08) has std 0.046
    b = cell.conv.bias.view(4, 64)
    assert (b[1] == 1).all() and (b[[0, 2, 3]] == 0).all()


def test_zero_state_built_from_input():
    cell = ConvLSTMCell(2, 3, 3).double()
    h, _c = cell(torch.rand(1, 2, 5, 9, dtype=torch.float64))
    assert h.dtype == torch.float64 and h.shape == (1, 3, 5, 9)


def test_convlstm_sequence_fft_equals_direct_forward_and_backward():
    torch.manual_seed(3)
    lstm = ConvLSTM(3, 8, 5, impl="fft")
    xs = torch.rand(2, 4, 3, 10, 12, requires_grad=True)
    g = torch.randn(2, 4, 8, 10, 12)
    results = []
    for impl in ("fft", "direct"):
        lstm.cell.impl = impl
        hs, _ = lstm(xs)
        results.append((hs, *torch.autograd.grad((hs * g).sum(), [xs, *lstm.parameters()])))
    for a, b in zip(*results, strict=True):
        assert (a - b).abs().max() <= 1e-5 * max(1.0, b.abs().max().item())


def test_runs_in_float32_under_bf16_autocast():
    torch.manual_seed(7)
    cell = ConvLSTMCell(3, 4, 5, impl="fft")
    x = torch.rand(4, 3, 8, 8)
    ref, _ = cell(x, None, cell.spectrum(x))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        h, _ = cell(x, None, cell.spectrum(x))
    assert (h.float() - ref).abs().max() <= 1e-5
