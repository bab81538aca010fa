"""The models on every kernel choice (``lstm_impl``, ``flow_impl``): the same function.

The flow model's ``forward`` runs its memory through :meth:`vstm.nn.ConvLSTMCell.run`; it
must compute exactly (bit for bit, forward and backward) what stepping the boxes by hand
computes, on every kernel choice.
"""

import pytest
import torch

from vstm.models import AEConvLSTM, AEConvLSTMConfig, AEConvLSTMFlow, AEConvLSTMFlowConfig
from vstm.nn import warp


def _by_hand(model: AEConvLSTMFlow, frames: torch.Tensor):
    """E, the memory stepped one frame at a time on one shared spectrum, Θ, warp, D."""
    b, t = frames.shape[:2]
    x = model.encoder(frames.flatten(0, 1))
    xs = x.unflatten(0, (b, t))
    spec = model.memory.spectrum(xs[:, 0])
    state, hs = None, []
    for i in range(t):
        state = model.memory(xs[:, i], state, spec)
        hs.append(state[0])
    flow = model._flow(torch.stack(hs, dim=1).flatten(0, 1))
    pred = model.decoder(warp(x, flow))
    return pred.unflatten(0, (b, t)), flow.unflatten(0, (b, t)), state


def _forward(model: AEConvLSTMFlow, frames: torch.Tensor):
    out = model(frames)
    return out.pred, out.flow, out.state


@pytest.mark.parametrize("lstm_impl", ["direct", "fft"])
@pytest.mark.parametrize("flow_impl", ["gemm", "direct"])
def test_flow_forward_is_bit_identical_to_the_boxes_stepped_by_hand(lstm_impl, flow_impl):
    torch.manual_seed(0)
    cfg = AEConvLSTMFlowConfig(
        hidden_channels=8, flow_kernel=5, lstm_impl=lstm_impl, flow_impl=flow_impl
    )
    model = AEConvLSTMFlow(cfg)
    with torch.no_grad():  # a non-zero flow, so that Θ and the warp matter
        model.flow.conv3.weight.normal_(0, 0.5)
        model.flow.conv3.bias.normal_(0, 0.5)
    frames = torch.rand(4, 3, 1, 16, 16)
    params = list(model.parameters())
    results = []
    for run in (_forward, _by_hand):
        pred, flow, (h, c) = run(model, frames)
        loss = pred.square().mean() + flow.square().mean() + h.mean() + c.mean()
        results.append((pred, flow, h, c, *torch.autograd.grad(loss, params)))
    assert results[0][1].abs().max() > 1e-3
    for a, b in zip(*results, strict=True):
        assert torch.equal(a, b)


@pytest.mark.parametrize(
    "model",
    [
        lambda impl: AEConvLSTMFlow(
            AEConvLSTMFlowConfig(hidden_channels=8, flow_kernel=5, lstm_impl=impl)
        ),
        lambda impl: AEConvLSTM(AEConvLSTMConfig(hidden_channels=8, lstm_impl=impl)),
    ],
)
def test_models_give_the_same_predictions_and_gradients_with_either_path(model):
    torch.manual_seed(4)
    frames = torch.rand(2, 3, 1, 16, 16)
    outs = []
    for impl in ("fft", "direct"):
        torch.manual_seed(5)
        m = model(impl)
        out = m(frames)
        loss = out.pred.square().mean() + (0 if out.flow is None else out.flow.square().mean())
        outs.append((out.pred, *torch.autograd.grad(loss, list(m.parameters()), allow_unused=True)))
    for a, b in zip(*outs, strict=True):
        if b is None:
            continue
        assert (a - b).abs().max() <= 1e-5 * max(1.0, b.abs().max().item())


def test_forward_with_fft_equals_streaming_steps():
    torch.manual_seed(6)
    model = AEConvLSTMFlow(AEConvLSTMFlowConfig(hidden_channels=8, flow_kernel=5, lstm_impl="fft"))
    model.flow.conv3.weight.data.normal_()  # a non-zero flow, so the warp matters
    frames = torch.rand(2, 4, 1, 16, 16)
    with torch.no_grad():
        out = model(frames)
        state = None
        for t in range(4):
            pred, flow, state = model.step(frames[:, t], state)
            assert (pred - out.pred[:, t]).abs().max() <= 1e-5
            assert (flow - out.flow[:, t]).abs().max() <= 1e-5
