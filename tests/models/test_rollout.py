"""Closed-loop rollout (``VideoPredictor.rollout``) of every recurrent model in the registry."""

from __future__ import annotations

import pytest
import torch

from vstm.errors import VstmError
from vstm.models import build_model, to_probabilities

TINY = {
    "ae-convlstm-flow": dict(
        enc_channels=4,
        hidden_channels=8,
        enc_kernel=3,
        lstm_kernel=3,
        flow_kernel=5,
        dec_kernel=3,
        lstm_impl="direct",
    ),
    "ae-convlstm": dict(
        enc_channels=4, hidden_channels=8, enc_kernel=3, lstm_kernel=3, dec_kernel=3
    ),
    "ae-fclstm": dict(
        frame_height=16, frame_width=16, enc_channels=4, hidden_units=16, enc_kernel=3
    ),
    "ae-conv": dict(window=3, enc_channels=4, mid_channels=8, kernel=3),
}


def _model(name: str, seed: int = 0):
    torch.manual_seed(seed)
    return build_model(name, **TINY[name]).eval()


def _frames(b: int = 2, t: int = 4, seed: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(b, t, 1, 16, 16, generator=g)


@pytest.mark.parametrize("name", sorted(TINY))
@pytest.mark.parametrize("outputs", ["logits", "values"])
def test_horizon_one_is_the_one_step_prediction(name, outputs):
    model, frames = _model(name), _frames()
    with torch.no_grad():
        one = model(frames)
        r = model.rollout(frames, 1, outputs)
    assert r.pred.shape == (2, 1, 1, 16, 16)
    torch.testing.assert_close(r.pred[:, 0], to_probabilities(one.pred[:, -1], outputs))
    if model.has_flow:
        torch.testing.assert_close(r.flow[:, 0], one.flow[:, -1])
    else:
        assert r.flow is None


@pytest.mark.parametrize("name", sorted(TINY))
def test_rollout_feeds_back_its_predictions_not_the_truth(name):
    """Step j of the rollout is the one-step prediction from context + the j forecasts."""
    model, frames = _model(name), _frames(t=6)
    ctx, truth = frames[:, :3], frames[:, 3:]
    with torch.no_grad():
        r = model.rollout(ctx, 3)
        # the model's output differs from its input, so feeding the truth would show
        assert (r.pred[:, 0] - truth[:, 0]).abs().max() > 0.05
        for j in range(1, 3):
            seen = torch.cat((ctx, r.pred[:, :j]), dim=1)  # context, then the forecasts
            expected = torch.sigmoid(model(seen).pred[:, -1])
            torch.testing.assert_close(r.pred[:, j], expected, rtol=1e-5, atol=1e-6)
            with_truth = torch.sigmoid(model(torch.cat((ctx, truth[:, :j]), 1)).pred[:, -1])
            assert (r.pred[:, j] - with_truth).abs().max() > 1e-4


@pytest.mark.parametrize("name", sorted(TINY))
def test_batched_equals_streaming(name):
    model, frames = _model(name), _frames(b=4)
    with torch.no_grad():
        batched = model.rollout(frames, 5)
        streamed = model.rollout(frames, 5, streaming=True)
        steps = list(model.iter_rollout(frames, 5))
    assert batched.pred.shape == (4, 5, 1, 16, 16)
    torch.testing.assert_close(batched.pred, streamed.pred, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(batched.pred, torch.stack([p for p, _, _ in steps], 1))
    if model.has_flow:
        assert batched.flow.shape == (4, 5, 2, 8, 8)
        torch.testing.assert_close(batched.flow, streamed.flow, rtol=1e-5, atol=1e-5)
    assert (batched.pred >= 0).all() and (batched.pred <= 1).all()


def test_batched_equals_streaming_with_the_fft_memory():
    """The flow model's forward may run the ConvLSTM through the FFT; step runs direct."""
    cfg = {**TINY["ae-convlstm-flow"], "lstm_impl": "fft"}
    torch.manual_seed(0)
    model = build_model("ae-convlstm-flow", **cfg).eval()
    frames = _frames(b=4)
    with torch.no_grad():
        a = model.rollout(frames, 3)
        b = model.rollout(frames, 3, streaming=True)
    torch.testing.assert_close(a.pred, b.pred, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("horizon", [0, -1, 2.5, True, "3"])
def test_bad_horizon_raises(horizon):
    model = _model("ae-convlstm-flow")
    with pytest.raises(VstmError, match="horizon"):
        model.rollout(_frames(), horizon)
    with pytest.raises(VstmError, match="horizon"):
        model.iter_rollout(_frames(), horizon)  # checked before the first frame is asked for


def test_continues_from_a_state():
    """Rollout from a state equals rollout over the whole context."""
    model, frames = _model("ae-convlstm"), _frames(t=5)
    with torch.no_grad():
        whole = model.rollout(frames, 2)
        first = model(frames[:, :3])
        rest = model.rollout(frames[:, 3:], 2, state=first.state)
    torch.testing.assert_close(whole.pred, rest.pred, rtol=1e-5, atol=1e-6)
