"""SegNet and SegNet-flow: shapes, streaming = batched, every parameter learns, registry."""

import pytest
import torch

from vstm import ShapeError, build_model
from vstm.models.segnet import SegNet, SegNetConfig
from vstm.models.segnet_flow import SegNetFlow, SegNetFlowConfig

TINY = dict(
    num_classes=3, seg_width=4, seg_depth=2, hidden_channels=4, flow_kernel=3, merge_channels=4
)


def test_segnet_shapes_odd_sizes_and_unpooling_indices():
    net = SegNet(SegNetConfig(num_classes=4, width=4, depth=3))
    assert net(torch.rand(2, 1, 21, 30)).shape == (2, 4, 21, 30)
    assert net.segment(torch.rand(2, 3, 1, 16, 16)).shape == (2, 3, 4, 16, 16)
    with pytest.raises(ShapeError, match="channel"):
        net(torch.rand(1, 3, 16, 16))
    with pytest.raises(ShapeError, match="too small"):
        net(torch.rand(1, 1, 4, 4))


def test_segnet_flow_forward_matches_streaming_steps():
    torch.manual_seed(0)
    m = SegNetFlow(SegNetFlowConfig(**TINY)).eval()
    with torch.no_grad():  # make the merge and flow non-trivial
        m.merge.out.weight.normal_(0, 0.5)
        m.ae.flow.conv3.weight.normal_(0, 0.5)
        frames = torch.rand(2, 4, 1, 8, 8)
        out = m(frames)
        state = None
        for t in range(4):
            pred, flow, state = m.step(frames[:, t], state)
            assert torch.allclose(state.seg, out.seg[:, t], atol=1e-5)
            assert torch.allclose(state.base, out.base[:, t], atol=1e-5)
            assert torch.allclose(flow, out.flow[:, t], atol=1e-6)
            assert torch.allclose(pred, out.pred[:, t], atol=1e-5)


def test_every_parameter_gets_a_gradient():
    torch.manual_seed(0)
    m = SegNetFlow(SegNetFlowConfig(**TINY))
    with torch.no_grad():  # the zero-initialised last layers would block gradients upstream
        m.merge.out.weight.normal_(0, 0.5)
        m.ae.flow.conv3.weight.normal_(0, 0.5)
    out = m(torch.rand(2, 3, 1, 8, 8))
    (out.seg.square().mean() + out.pred.square().mean()).backward()
    dead = [n for n, p in m.named_parameters() if p.grad is None or p.grad.abs().sum() == 0]
    assert not dead


def test_registered_as_a_video_predictor():
    m = build_model("segnet-flow", **TINY)
    assert isinstance(m, SegNetFlow) and m.has_flow
    pred, flow, state = m.step(torch.rand(1, 1, 8, 8))
    assert pred.shape == (1, 1, 8, 8) and flow.shape == (1, 2, 4, 4)
    assert state.seg.shape == (1, 3, 8, 8)
