import pytest
import torch

from vstm import ShapeError, warp


def test_zero_flow_is_identity():
    x = torch.rand(2, 3, 5, 7)
    assert torch.allclose(warp(x, torch.zeros(2, 2, 5, 7)), x, atol=1e-6)


@pytest.mark.parametrize("dx,dy", [(1, 0), (0, 1), (-2, 1), (3, -2)])
def test_integer_flow_is_hand_shift_with_zeros_entering(dx, dy):
    x = torch.rand(1, 2, 6, 8)
    flow = torch.zeros(1, 2, 6, 8)
    flow[:, 0], flow[:, 1] = dx, dy
    expected = torch.zeros_like(x)
    for r in range(6):
        for c in range(8):
            sr, sc = r + dy, c + dx  # y[p] = x[p + flow[p]]
            if 0 <= sr < 6 and 0 <= sc < 8:
                expected[..., r, c] = x[..., sr, sc]
    assert torch.allclose(warp(x, flow), expected, atol=1e-6)


def test_subpixel_flow_matches_hand_bilinear():
    x = torch.tensor([[1.0, 2.0, 4.0], [8.0, 16.0, 32.0], [64.0, 128.0, 256.0]]).view(1, 1, 3, 3)
    flow = torch.zeros(1, 2, 3, 3)
    flow[0, 0, 0, 0], flow[0, 1, 0, 0] = 0.25, 0.5  # pixel (row 0, col 0) reads (x=.25, y=.5)
    flow[0, 0, 2, 2], flow[0, 1, 2, 2] = 0.5, 0.0  # half outside on the right: 0.5*256 + 0
    y = warp(x, flow)
    top = 0.75 * 1.0 + 0.25 * 2.0
    bottom = 0.75 * 8.0 + 0.25 * 16.0
    assert y[0, 0, 0, 0].item() == pytest.approx(0.5 * top + 0.5 * bottom)
    assert y[0, 0, 2, 2].item() == pytest.approx(0.5 * 256.0)
    assert y[0, 0, 1, 1].item() == pytest.approx(16.0)


def test_flow_convention_moves_content_by_minus_flow():
    x = torch.zeros(1, 1, 9, 9)
    x[0, 0, 4, 4] = 1.0
    flow = torch.zeros(1, 2, 9, 9)
    flow[:, 0] = -2.0  # the model's flow; the content moves by +2 in x
    y = warp(x, flow)
    assert y[0, 0, 4, 6] == 1.0 and y.sum() == 1.0


def test_gradcheck_input_and_flow():
    torch.manual_seed(0)
    x = torch.rand(1, 2, 4, 5, dtype=torch.float64, requires_grad=True)
    # keep sample points away from integer coordinates, where bilinear has kinks
    flow = (torch.rand(1, 2, 4, 5, dtype=torch.float64) * 0.6 + 0.2).requires_grad_(True)
    assert torch.autograd.gradcheck(warp, (x, flow), eps=1e-6, atol=1e-6)


def test_bad_shapes_raise_clear_errors():
    with pytest.raises(ShapeError, match=r"flow: expected shape \(B,2,H,W\), got \(1, 3, 4, 4\)"):
        warp(torch.rand(1, 1, 4, 4), torch.zeros(1, 3, 4, 4))
    with pytest.raises(ShapeError, match="matching x"):
        warp(torch.rand(1, 1, 4, 4), torch.zeros(1, 2, 4, 5))
    with pytest.raises(ShapeError, match=r"x: expected shape \(B,C,H,W\)"):
        warp(torch.rand(4, 4), torch.zeros(1, 2, 4, 4))
