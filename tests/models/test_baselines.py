"""The learned baselines of the paper's Figure 4: ae-conv, ae-convlstm, ae-fclstm."""

import pytest
import torch
import torch.nn.functional as F

from vstm import ShapeError, VstmError, build_model
from vstm.cli import main
from vstm.info import PAPER_PARAMETERS, parameter_breakdown
from vstm.models import model_names

# Tiny configurations for 16x16 frames: seconds on a CPU.
SMALL = {
    "ae-conv": dict(enc_channels=4, mid_channels=8, kernel=3, window=3),
    "ae-convlstm": dict(hidden_channels=8, lstm_kernel=3),
    "ae-fclstm": dict(frame_height=16, frame_width=16, hidden_units=24, dec_channels=2),
}
BASELINES = sorted(SMALL)


def small(name, **kw):
    return build_model(name, **{**SMALL[name], **kw})


def n_params(model):
    return sum(p.numel() for p in model.parameters())


def test_registered():
    assert {"ae-conv", "ae-convlstm", "ae-fclstm", "ae-convlstm-flow"} <= set(model_names())
    for name in BASELINES:
        assert build_model(name).name == name


def test_ae_conv_paper_parameter_count():
    model = build_model("ae-conv")
    rows = {r.name: r.parameters for r in parameter_breakdown(model)}
    assert rows == {
        "encoder.conv": 10 * 16 * 49 + 16,
        "temporal_encoder": 16 * 64 * 49 + 64,
        "temporal_decoder": 64 * 16 * 49 + 16,
        "decoder.conv": 16 * 49 + 1,
    }
    assert n_params(model) == 109_073 == PAPER_PARAMETERS["ae-conv"]
    # C channels: the window has 10*C channels in and C out
    colour = build_model("ae-conv", in_channels=3)
    assert colour.encoder.conv.in_channels == 30 and colour.decoder.conv.out_channels == 3


def test_ae_convlstm_paper_parameter_count():
    model = build_model("ae-convlstm")
    rows = {r.name: r.parameters for r in parameter_breakdown(model)}
    assert rows == {
        "encoder.conv": 800,
        "temporal_encoder.conv": 1_003_776,
        "temporal_decoder.conv": 250_944,
        "decoder.conv": 785,
    }
    assert n_params(model) == 1_256_305 == PAPER_PARAMETERS["ae-convlstm"]


def test_ae_fclstm_documented_parameter_count():
    model = build_model("ae-fclstm")
    rows = {r.name: r.parameters for r in parameter_breakdown(model)}
    assert rows == {
        "encoder.conv": 800,
        "temporal_encoder.linear": 4 * 413 * (16 * 32 * 32 + 413 + 1),
        "temporal_decoder.linear": 4 * 1024 * (413 + 1024 + 1),
        "decoder.conv": 50,
    }
    total = n_params(model)
    assert total == 33_641_194
    paper = PAPER_PARAMETERS["ae-fclstm"]
    assert paper == 33_623_649 and abs(total - paper) / paper < 0.02


@pytest.mark.parametrize(
    ("name", "versus_paper"),
    [
        ("ae-conv", "(identical)"),
        ("ae-convlstm", "(identical)"),
        ("ae-fclstm", "(difference +17,545, +0.05%)"),
    ],
)
def test_info_command(name, versus_paper, capsys):
    assert main(["info", "--model", name]) == 0
    out = capsys.readouterr().out
    assert f"model {name}" in out and "GFLOP" in out
    assert f"paper (Table 1): {PAPER_PARAMETERS[name]:,}  {versus_paper}" in out


def test_lstm_parts_use_paper_init():
    torch.manual_seed(0)
    for name, lstm in [
        ("ae-convlstm", build_model("ae-convlstm").temporal_decoder.conv),
        ("ae-fclstm", small("ae-fclstm").temporal_decoder.linear),
    ]:
        hidden = lstm.bias.numel() // 4
        assert lstm.weight.abs().max() <= 0.08, name
        assert (lstm.bias[hidden : 2 * hidden] == 1).all(), name
        assert lstm.bias[:hidden].abs().sum() == 0 and lstm.bias[2 * hidden :].abs().sum() == 0


@pytest.mark.parametrize("name", BASELINES)
@pytest.mark.parametrize("channels", [1, 3])
def test_output_shapes(name, channels):
    model = small(name, in_channels=channels)
    out = model(torch.rand(2, 3, channels, 16, 16))
    assert out.pred.shape == (2, 3, channels, 16, 16)
    assert out.flow is None
    assert torch.isfinite(out.pred).all()
    pred, flow, _ = model.step(torch.rand(2, channels, 16, 16))
    assert pred.shape == (2, channels, 16, 16) and flow is None


@pytest.mark.parametrize("name", BASELINES)
def test_step_equals_forward(name):
    torch.manual_seed(0)
    model = small(name)
    frames = torch.rand(2, 5, 1, 16, 16)
    out = model(frames)
    state = None
    for t in range(5):
        pred, _, state = model.step(frames[:, t], state)
        assert torch.allclose(pred, out.pred[:, t], atol=1e-5), t
    # the state carries across calls: two halves equal the whole
    first = model(frames[:, :2])
    second = model(frames[:, 2:], first.state)
    assert torch.allclose(second.pred, out.pred[:, 2:], atol=1e-5)
    # and forward's state continues step
    pred, _, _ = model.step(frames[:, 2], first.state)
    assert torch.allclose(pred, out.pred[:, 2], atol=1e-5)


@pytest.mark.parametrize("name", BASELINES)
def test_predictions_are_causal(name):
    # pred[:, t] may depend on frames <= t only
    torch.manual_seed(0)
    model = small(name)
    frames = torch.rand(1, 5, 1, 16, 16)
    changed = frames.clone()
    changed[:, 3:] = torch.rand(1, 2, 1, 16, 16)
    a, b = model(frames).pred, model(changed).pred
    assert torch.allclose(a[:, :3], b[:, :3], atol=1e-6)
    assert not torch.allclose(a[:, 3:], b[:, 3:])


def test_ae_conv_window_and_zero_history():
    torch.manual_seed(0)
    model = small("ae-conv")  # window 3
    frames = torch.rand(1, 6, 1, 16, 16)
    out = model(frames)
    # frame 0 only reaches predictions 0..2
    changed = frames.clone()
    changed[:, 0] = 0.5
    diff = (model(changed).pred - out.pred).flatten(2).abs().amax(2)[0]
    assert (diff[:3] > 1e-4).all() and (diff[3:] < 1e-6).all()
    # before the start, the window holds zeros (oldest first, newest last)
    window = torch.cat((torch.zeros(1, 2, 1, 16, 16), frames[:, :1]), dim=1).flatten(1, 2)
    assert torch.allclose(out.pred[:, 0], model._predict(window), atol=1e-6)
    assert torch.equal(out.state, frames[:, -3:])
    with pytest.raises(ShapeError, match="state must be the last 3 frames"):
        model(frames, torch.zeros(1, 2, 1, 16, 16))


@pytest.mark.parametrize("name", BASELINES)
def test_every_parameter_gets_a_gradient(name):
    torch.manual_seed(0)
    model = small(name)
    frames = torch.rand(2, 4, 1, 16, 16)
    out = model(frames[:, :-1])
    F.mse_loss(out.pred, frames[:, 1:]).backward()
    for pname, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().max() > 0, pname


def test_ae_fclstm_is_size_specific():
    model = small("ae-fclstm")
    with pytest.raises(ShapeError, match=r"sized for 16x16 frames, got 32x16"):
        model(torch.rand(1, 2, 1, 32, 16))
    with pytest.raises(ShapeError, match="sized for 16x16"):
        model.step(torch.rand(1, 1, 16, 32))
    with pytest.raises(VstmError, match="frame size must be even"):
        build_model("ae-fclstm", frame_height=15)


@pytest.mark.parametrize("name", BASELINES)
def test_bad_input_messages(name):
    model = small(name)
    with pytest.raises(ShapeError, match=r"expected 1 channel\(s\) per frame, got 3"):
        model(torch.rand(1, 2, 3, 16, 16))
    with pytest.raises(ShapeError, match=r"expected shape \(B,T,C,H,W\)"):
        model(torch.rand(1, 16, 16))
    with pytest.raises(VstmError, match="unknown key"):
        build_model(name, hidden=3)
