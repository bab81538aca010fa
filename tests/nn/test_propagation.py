"""The sampler S and the merge block M (paper Figure 7): known answers, shapes, gradients."""

import pytest
import torch

from vstm import ShapeError
from vstm.models.segnet_flow import SegNetFlow, SegNetFlowConfig
from vstm.nn.propagation import MergeBlock, propagate_labels, upsample_flow


def one_hot(labels: torch.Tensor, k: int) -> torch.Tensor:
    """(B, H, W) ids -> (B, K, H, W) float one-hot."""
    return torch.nn.functional.one_hot(labels, k).permute(0, 3, 1, 2).float()


def shifted(labels: torch.Tensor, dx: int, dy: int, fill: int) -> torch.Tensor:
    """Content moved by (dx, dy) pixels: out[r, c] = labels[r - dy, c - dx] (fill outside)."""
    out = torch.full_like(labels, fill)
    h, w = labels.shape[-2:]
    for r in range(h):
        for c in range(w):
            sr, sc = r - dy, c - dx
            if 0 <= sr < h and 0 <= sc < w:
                out[..., r, c] = labels[..., sr, sc]
    return out


@pytest.mark.parametrize("dx,dy", [(2, 0), (0, -2), (-4, 2), (2, 4)])
def test_known_integer_flow_moves_a_label_map_exactly(dx, dy):
    """Content that moves by (dx, dy) label pixels from t-1 to t has the model's flow
    -(dx, dy) at label resolution (it points from t back to t-1), i.e. -(dx, dy)/2 at the
    encoder's half-resolution feature map: S must move the map by exactly (dx, dy)."""
    torch.manual_seed(0)
    k, h, w = 4, 12, 16
    labels = torch.randint(0, k, (2, h, w))
    flow = torch.zeros(2, 2, h // 2, w // 2)
    flow[:, 0], flow[:, 1] = -dx / 2, -dy / 2
    out = propagate_labels(one_hot(labels, k), flow)
    inside = shifted(torch.ones(2, h, w, dtype=torch.long), dx, dy, 0).bool()
    expected = shifted(labels, dx, dy, -1)
    assert torch.equal(out.argmax(1)[inside], expected[inside])
    assert torch.allclose(out.amax(1)[inside], torch.ones(1), atol=1e-5)  # copies, no blend
    outside = (~inside).unsqueeze(1).expand_as(out)
    assert out[outside].abs().max() < 1e-5  # sources outside the frame: zeros, no information


def test_flow_upsampling_scales_each_axis_by_its_own_factor():
    flow = torch.zeros(1, 2, 3, 5)
    flow[:, 0], flow[:, 1] = 1.0, -1.0
    up = upsample_flow(flow, (12, 10))  # x x2, y x4
    assert up.shape == (1, 2, 12, 10)
    assert torch.allclose(up[:, 0], torch.full((1, 12, 10), 2.0))
    assert torch.allclose(up[:, 1], torch.full((1, 12, 10), -4.0))


def test_propagate_uses_the_flow_of_the_previous_step():
    """In SegNet-flow, frame t's warped labels come from flow_{t-1}: run the model with a
    fixed flow head output and check the propagated map against a hand shift."""
    torch.manual_seed(0)
    cfg = SegNetFlowConfig(
        num_classes=3, seg_width=4, seg_depth=2, hidden_channels=4, flow_kernel=3, merge_channels=4
    )
    m = SegNetFlow(cfg).eval()
    flows = iter([torch.full((1, 2, 4, 4), -1.0), torch.full((1, 2, 4, 4), 0.0)])
    m.ae._flow = lambda h: next(flows)  # step 0 outputs flow -1 (content moves +2 px)
    seen = []
    m.merge.forward = lambda base, warped: seen.append(warped) or base
    frame = torch.rand(1, 1, 8, 8)
    _, _, s0 = m.step(frame)
    m.step(frame, s0)
    assert torch.equal(seen[0], torch.zeros_like(seen[0]))  # t = 0: nothing to propagate
    expected = shifted(s0.seg.softmax(1), 2, 2, 0)
    assert torch.allclose(seen[1], expected, atol=1e-6)


def test_merge_block_shapes_identity_start_and_gradients():
    torch.manual_seed(0)
    m = MergeBlock(num_classes=5, channels=6)
    base = torch.randn(2, 5, 7, 9, requires_grad=True)
    warped = torch.rand(2, 5, 7, 9, requires_grad=True)
    out = m(base, warped)
    assert out.shape == (2, 5, 7, 9)
    assert torch.equal(out, base)  # zero-initialised last layer: passes SegNet through
    out.square().sum().backward()
    assert m.out.weight.grad is not None and m.out.weight.grad.abs().sum() > 0
    # once the last layer is non-zero, every parameter and both inputs get gradients
    with torch.no_grad():
        m.out.weight.normal_()
    for p in (*m.parameters(), base, warped):
        p.grad = None
    m(base, warped).square().sum().backward()
    for name, p in m.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name
    assert warped.grad.abs().sum() > 0 and base.grad.abs().sum() > 0


def test_merge_block_gradcheck_float64():
    torch.manual_seed(0)
    m = MergeBlock(num_classes=2, channels=3).double()
    with torch.no_grad():
        m.out.weight.normal_()
    base = torch.randn(1, 2, 3, 3, dtype=torch.float64, requires_grad=True)
    warped = torch.rand(1, 2, 3, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(m, (base, warped))


def test_bad_shapes_raise():
    m = MergeBlock(num_classes=3)
    with pytest.raises(ShapeError, match="MergeBlock"):
        m(torch.zeros(1, 3, 4, 4), torch.zeros(1, 2, 4, 4))
    with pytest.raises(ShapeError, match="flow"):
        propagate_labels(torch.zeros(1, 3, 4, 4), torch.zeros(1, 3, 2, 2))
