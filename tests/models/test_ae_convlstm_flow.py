import pytest
import torch
import torch.nn.functional as F

from vstm import ShapeError, VstmError, build_model
from vstm.info import format_info, parameter_breakdown
from vstm.nn import huber_smoothness


def small(**kw):
    return build_model("ae-convlstm-flow", hidden_channels=8, flow_kernel=5, **kw)


@pytest.mark.parametrize("channels", [1, 3])
def test_output_shapes_grey_and_colour(channels):
    model = small(in_channels=channels)
    out = model(torch.rand(2, 3, channels, 16, 12))
    assert out.pred.shape == (2, 3, channels, 16, 12)
    assert out.flow.shape == (2, 3, 2, 8, 6)
    assert out.state[0].shape == (2, 8, 8, 6)
    assert torch.isfinite(out.pred).all()


def test_untrained_flow_is_exactly_zero():
    model = build_model("ae-convlstm-flow")
    out = model(torch.rand(1, 2, 1, 32, 32))
    assert torch.count_nonzero(out.flow) == 0


def test_untrained_prediction_is_decoded_current_frame():
    # zero flow = identity warp, so the prediction is D(E(Y_t))
    model = small()
    frames = torch.rand(1, 2, 1, 16, 16)
    out = model(frames)
    expected = model.decoder(model.encoder(frames[:, 1]))
    assert torch.allclose(out.pred[:, 1], expected, atol=1e-6)


def test_step_equals_forward():
    torch.manual_seed(0)
    model = small()
    with torch.no_grad():  # non-zero flow so the warp is exercised
        model.flow.conv3.weight.normal_()
    frames = torch.rand(2, 4, 1, 16, 16)
    out = model(frames)
    assert out.flow.abs().max() > 1e-3
    state = None
    for t in range(4):
        pred, flow, state = model.step(frames[:, t], state)
        assert torch.allclose(pred, out.pred[:, t], atol=1e-5)
        assert torch.allclose(flow, out.flow[:, t], atol=1e-5)
    # state carries across calls: two halves equal the whole
    first = model(frames[:, :2])
    second = model(frames[:, 2:], first.state)
    assert torch.allclose(second.pred, out.pred[:, 2:], atol=1e-5)


@pytest.mark.parametrize("smoothness", ["loss", "inject"])
def test_every_parameter_gets_a_gradient(smoothness):
    torch.manual_seed(0)
    model = build_model("ae-convlstm-flow", smoothness=smoothness)
    frames = torch.rand(2, 3, 1, 32, 32)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)

    def backward():
        opt.zero_grad()
        out = model(frames[:, :-1])
        loss = F.mse_loss(out.pred, frames[:, 1:])
        if smoothness == "loss":
            loss = loss + huber_smoothness(out.flow)
        loss.backward()

    # At initialisation Θ's last layer is exactly zero (flow 0), so by construction only it,
    # E and D see a gradient: everything behind a zero weight gets exactly zero.
    backward()
    grads = {n: p.grad.abs().max().item() for n, p in model.named_parameters()}
    assert grads["flow.conv3.weight"] > 0 and grads["encoder.conv.weight"] > 0
    assert grads["memory.conv.weight"] == 0 and grads["flow.conv1.weight"] == 0
    # One update later the flow head is live and every parameter must receive a gradient:
    # a dead memory, flow head or warp would show up here.
    opt.step()
    backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().max() > 0, name


def test_inject_and_loss_give_same_parameter_gradients():
    torch.manual_seed(0)
    a = small(smoothness="loss", w_h=1.0)
    b = small(smoothness="inject", w_h=1.0)
    b.load_state_dict(a.state_dict())
    with torch.no_grad():
        a.flow.conv3.weight.normal_()
        b.flow.conv3.weight.copy_(a.flow.conv3.weight)
    frames = torch.rand(2, 3, 1, 16, 16)
    oa = a(frames[:, :-1])
    (F.mse_loss(oa.pred, frames[:, 1:]) + huber_smoothness(oa.flow, a.config.delta, 1.0)).backward()
    ob = b(frames[:, :-1])
    F.mse_loss(ob.pred, frames[:, 1:]).backward()
    for (n, pa), pb in zip(a.named_parameters(), b.parameters(), strict=True):
        assert torch.allclose(pa.grad, pb.grad, atol=1e-7, rtol=1e-4), n


def test_paper_parameter_count_and_breakdown():
    model = build_model("ae-convlstm-flow")
    rows = {r.name: r.parameters for r in parameter_breakdown(model)}
    assert rows == {
        "encoder.conv": 800,
        "memory.conv": 1_003_776,
        "flow.conv1": 28_802,
        "flow.conv2": 902,
        "flow.conv3": 6,
        "decoder.conv": 785,
    }
    assert sum(p.numel() for p in model.parameters()) == 1_035_071
    text = format_info("ae-convlstm-flow")
    assert "1,035,071" in text and "1,035,067" in text and "2.129 GFLOP" in text


def test_bad_input_messages():
    model = small()
    with pytest.raises(ShapeError, match=r"expected 1 channel\(s\) per frame, got 3"):
        model(torch.rand(1, 2, 3, 16, 16))
    with pytest.raises(ShapeError, match="multiple of 2"):
        model(torch.rand(1, 2, 1, 15, 16))
    with pytest.raises(ShapeError, match=r"expected shape \(B,T,C,H,W\)"):
        model(torch.rand(1, 1, 16, 16))
    with pytest.raises(VstmError, match="unknown key"):
        build_model("ae-convlstm-flow", hiden_channels=3)
    with pytest.raises(VstmError, match="must be int"):
        build_model("ae-convlstm-flow", hidden_channels="64")
    with pytest.raises(VstmError, match="unknown model"):
        build_model("ae-nope")
