import pytest
import torch

from vstm.nn import flow_gradient, huber, huber_smoothness, inject_smoothness


def test_huber_known_values_below_and_above_delta():
    d = 1e-3
    a = torch.tensor([0.0, 5e-4, -1e-3, 3e-3, -0.5], dtype=torch.float64)
    expected = [0.0, 0.5 * 25e-8, 0.5 * 1e-6, d * (3e-3 - d / 2), d * (0.5 - d / 2)]
    assert huber(a, d).tolist() == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_huber_equals_eq2_written_out(dtype):
    # eq. 2 by hand, on random values on both sides of delta and exactly at +-delta: the
    # same numbers and the same gradients, bit for bit
    d = 1e-3
    g = torch.Generator().manual_seed(0)
    a = torch.randn(10_000, generator=g, dtype=torch.float64).to(dtype) * 3 * d
    a[:3] = torch.tensor([d, -d, 0.0], dtype=dtype)
    inside = a.abs() <= d
    assert 0.1 < inside.double().mean() < 0.9  # both branches are exercised

    def reference(x):
        ax = x.abs()
        return torch.where(ax <= d, 0.5 * x * x, d * (ax - 0.5 * d))

    x1, x2 = a.clone().requires_grad_(), a.clone().requires_grad_()
    ours, ref = huber(x1, d), reference(x2)
    assert torch.equal(ours, ref)
    w = torch.randn(a.shape, generator=g, dtype=torch.float64).to(dtype)
    (ours * w).sum().backward()
    (ref * w).sum().backward()
    assert torch.equal(x1.grad, x2.grad)


def test_flow_gradient_of_linear_ramp_and_constant():
    f = torch.zeros(1, 2, 5, 6)
    f[:, 1] = 3.0 * torch.arange(5.0).view(5, 1)  # flow_y = 3 * row
    g = flow_gradient(f)
    assert torch.allclose(g[0, 3, 1:-1], torch.full((3, 6), 3.0))  # d flow_y / dy inside
    assert g[0, :3].abs().max() == 0  # flow_x const, d flow_y / dx == 0
    assert flow_gradient(torch.full((1, 2, 4, 4), 7.0)).abs().max() == 0  # borders too


def test_explicit_loss_gradient_equals_injected_gradient():
    torch.manual_seed(0)
    head = torch.nn.Conv2d(3, 2, 3, padding=1).double()
    h = torch.randn(2, 3, 8, 8, dtype=torch.float64)
    target = torch.randn(2, 2, 8, 8, dtype=torch.float64)

    def data_term(flow):
        return ((flow - target) ** 2).mean()

    flow = head(h)
    (data_term(flow) + huber_smoothness(flow, 1e-3, 1e-2)).backward()
    explicit = [p.grad.clone() for p in head.parameters()]
    head.zero_grad()
    flow = inject_smoothness(head(h), 1e-3, 1e-2)
    data_term(flow).backward()
    injected = [p.grad.clone() for p in head.parameters()]
    for a, b in zip(explicit, injected, strict=True):
        assert torch.allclose(a, b, atol=1e-14, rtol=1e-10)
    # and the penalty's share is not negligible here, so the check means something
    head.zero_grad()
    huber_smoothness(head(h), 1e-3, 1e-2).backward()
    assert head.weight.grad.abs().max() > 1e-6


def test_inject_is_identity_forward():
    f = torch.randn(2, 3, 2, 4, 4)
    assert torch.equal(inject_smoothness(f), f)
