"""Θ (paper 3.2.2) and its same-padded layers, on either kernel (``flow_impl``)."""

import pytest
import torch

from vstm import build_model
from vstm.nn import FlowRegressor
from vstm.nn.flow_head import SameConv2d


def test_same_conv_rejects_an_unknown_impl():
    with pytest.raises(ValueError, match="impl"):
        SameConv2d(3, 2, 5, impl="fast")


@pytest.mark.parametrize("impl", ["gemm", "fft", "direct", "auto"])
def test_flow_regressor_paths_agree(impl):
    torch.manual_seed(0)
    ref = FlowRegressor(64, 15, impl="direct")
    head = FlowRegressor(64, 15, impl=impl)
    head.load_state_dict(ref.state_dict())
    with torch.no_grad():
        for m in (ref, head):
            m.conv3.weight.copy_(torch.eye(2).view(2, 2, 1, 1))
    h = torch.rand(2, 64, 12, 16) * 2 - 1
    h1, h2 = h.clone().requires_grad_(), h.clone().requires_grad_()
    a, b = ref(h1), head(h2)
    assert (a - b).abs().max() <= 1e-4
    a.square().sum().backward()
    b.square().sum().backward()
    assert (h1.grad - h2.grad).abs().max() <= 1e-4
    for (name, p), q in zip(ref.named_parameters(), head.parameters(), strict=True):
        assert (p.grad - q.grad).abs().max() <= 1e-4 * max(1.0, p.grad.abs().max().item()), name
    expected = {"auto": "gemm"}.get(impl, impl)  # a gradient is wanted: auto trains on GEMMs
    assert head.conv1.kernel(h1) == expected


@pytest.mark.parametrize("impl", ["gemm", "fft", "auto"])
def test_flow_regressor_streams_like_the_direct_convolution(impl):
    """Without gradients (``auto`` takes the FFT, its spectrum kept between frames), Θ gives
    F.conv2d's numbers frame after frame, and a changed weight is seen at the next frame."""
    torch.manual_seed(1)
    ref = FlowRegressor(64, 15, impl="direct")
    head = FlowRegressor(64, 15, impl=impl)
    with torch.no_grad():
        ref.conv3.weight.copy_(torch.eye(2).view(2, 2, 1, 1))
    head.load_state_dict(ref.state_dict())
    with torch.inference_mode():
        for i in range(3):
            h = torch.rand(1, 64, 32, 32) * 2 - 1
            a, b = ref(h), head(h)
            assert (a - b).abs().max() <= 1e-4 * max(1.0, a.abs().max().item()), i
        assert head.conv1.kernel(h) == {"auto": "fft"}.get(impl, impl)
    with torch.no_grad():  # an in-place change, as an optimiser step makes
        for m in (ref, head):
            m.conv1.weight.mul_(-0.5)
        h = torch.rand(1, 64, 32, 32)
        assert (ref(h) - head(h)).abs().max() <= 1e-4


def test_flow_impl_keeps_parameters_and_state_dict():
    fast = build_model("ae-convlstm-flow")
    direct = build_model("ae-convlstm-flow", flow_impl="direct")
    assert fast.config.flow_impl == "auto"
    assert sum(p.numel() for p in fast.parameters()) == 1_035_071
    assert {k: v.shape for k, v in fast.state_dict().items()} == {
        k: v.shape for k, v in direct.state_dict().items()
    }
    direct.load_state_dict(fast.state_dict())  # checkpoints load across implementations


def test_model_flow_impls_give_the_same_training_gradients():
    torch.manual_seed(0)
    fast = build_model("ae-convlstm-flow", hidden_channels=8, flow_impl="gemm")
    direct = build_model("ae-convlstm-flow", hidden_channels=8, flow_impl="direct")
    with torch.no_grad():
        fast.flow.conv3.weight.normal_(0, 0.5)
    direct.load_state_dict(fast.state_dict())
    frames = torch.rand(2, 3, 1, 16, 16)
    for m in (fast, direct):
        out = m(frames)
        (out.pred.square().mean() + out.flow.square().mean()).backward()
    for (name, p), q in zip(fast.named_parameters(), direct.parameters(), strict=True):
        assert (p.grad - q.grad).abs().max() <= 1e-5, name
