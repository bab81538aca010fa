"""The models on every kernel choice (``lstm_impl``, ``flow_impl``): the same function."""

import pytest
import torch

from vstm.models import AEConvLSTM, AEConvLSTMConfig, AEConvLSTMFlow, AEConvLSTMFlowConfig


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
