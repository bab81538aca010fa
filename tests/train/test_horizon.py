"""Training for closed-loop forecasting (issue 25): --horizon and scheduled sampling."""

import pytest
import torch

from vstm import build_model
from vstm.cli import main
from vstm.models import to_probabilities
from vstm.train.task import NextFrameTask


def _model():
    torch.manual_seed(0)
    model = build_model("ae-convlstm-flow", hidden_channels=8, flow_kernel=5, lstm_kernel=3)
    for p in model.flow.conv3.parameters():  # a non-zero flow, as after some training
        torch.nn.init.normal_(p, std=0.1)
    return model


def test_closed_loop_step_equals_a_hand_rolled_loop():
    model, frames = _model(), torch.rand(2, 6, 1, 16, 16)
    task = NextFrameTask("bce", w_h=0.0, horizon=3)  # 3 context frames, 3 forecast
    parts = task(model.train(), frames)
    parts.total.backward()
    got = {n: p.grad.clone() for n, p in model.named_parameters()}
    model.zero_grad()
    # by hand: frames 0..2 teacher-forced, then the model's own probabilities fed back
    preds, state = [], None
    for t in range(3):
        pred, _, state = model.step(frames[:, t], state)
        preds.append(pred)
    for _ in range(2):
        pred, _, state = model.step(torch.sigmoid(preds[-1]), state)
        preds.append(pred)
    pred = torch.stack(preds, dim=1)  # (B, 5, C, H, W): frames 1..5
    loss = torch.nn.functional.binary_cross_entropy_with_logits(pred, frames[:, 1:])
    loss.backward()
    assert parts.total.item() == pytest.approx(loss.item(), rel=1e-5)
    for n, p in model.named_parameters():
        torch.testing.assert_close(got[n], p.grad, rtol=1e-4, atol=1e-7, msg=n)


def test_teacher_forcing_is_next_frame_training():
    model, frames = _model(), torch.rand(2, 6, 1, 16, 16)
    forced = NextFrameTask("bce", w_h=0.0, horizon=3, ss_steps=100)  # step 0: p = 1
    plain = NextFrameTask("bce", w_h=0.0)  # next-frame on every frame
    torch.testing.assert_close(
        forced(model.train(), frames).total, plain(model, frames).total, rtol=1e-5, atol=1e-7
    )


def test_schedule_falls_from_teacher_forcing_to_closed_loop():
    task = NextFrameTask("mse", horizon=10, ss_steps=400)
    assert [task.truth_probability(s) for s in (0, 100, 200, 400, 401)] == [
        1.0, 0.75, 0.5, 0.0, 0.0,
    ]  # fmt: skip
    assert NextFrameTask("mse", horizon=10).truth_probability(0) == 0.0  # closed loop at once
    task.step = 300
    assert task.truth_probability() == 0.25  # the Trainer's clock


def test_the_trained_forecast_is_model_rollout():
    model, frames = _model().eval(), torch.rand(2, 7, 1, 16, 16)
    task = NextFrameTask("bce", horizon=4)
    with torch.no_grad():
        out = task.forecast(model, frames, p_truth=0.0)
        forecast = to_probabilities(out.pred[:, 3 - 1 :], "logits")  # frames 3..6
        rolled = model.rollout(frames[:, :3], horizon=4).pred
    torch.testing.assert_close(forecast, rolled, rtol=1e-5, atol=1e-6)


def test_vstm_train_horizon_runs_and_resumes(tmp_path):
    out = tmp_path / "run"
    args = ["train", "--tiny", "--context", "3", "--horizon", "4", "--ss-steps", "4"]
    assert main([*args, "--steps", "2", "--out", str(out)]) == 0
    assert main(["train", "--resume", str(out), "--steps", "4"]) == 0
    import json

    cfg = json.loads((out / "config.json").read_text())
    assert cfg["horizon"] == 4 and cfg["ss_steps"] == 4
