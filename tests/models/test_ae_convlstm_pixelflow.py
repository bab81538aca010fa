"""AE-ConvLSTM-pixelflow: the frame warped at full resolution plus D's residual."""

import torch

from vstm import build_model, warp
from vstm.models.ae_convlstm_pixelflow import image_flow


def small(**kw):
    return build_model("ae-convlstm-pixelflow", hidden_channels=8, flow_kernel=5, **kw)


def test_untrained_model_copies_the_last_frame():
    frames = torch.rand(2, 4, 3, 16, 12)
    out = small(in_channels=3)(frames)
    assert out.pred.shape == frames.shape and out.flow.shape == (2, 4, 2, 8, 6)
    assert torch.count_nonzero(out.flow) == 0
    torch.testing.assert_close(out.pred, frames, atol=1e-5, rtol=0)


def test_same_parameters_as_the_paper_model():
    paper = build_model("ae-convlstm-flow", in_channels=3)
    pixel = build_model("ae-convlstm-pixelflow", in_channels=3)
    assert [(n, p.shape) for n, p in paper.named_parameters()] == [
        (n, p.shape) for n, p in pixel.named_parameters()
    ]


def test_prediction_is_image_warp_plus_decoded_residual():
    torch.manual_seed(0)
    model = small()
    for p in model.parameters():  # a trained-looking model: nothing at zero
        torch.nn.init.normal_(p, std=0.05)
    frames = torch.rand(1, 3, 1, 16, 16)
    out = model(frames)
    x = model.encoder(frames[:, -1])
    flow = out.flow[:, -1]
    expected = warp(frames[:, -1], image_flow(flow), padding="border") + model.decoder(
        warp(x, flow)
    )
    torch.testing.assert_close(out.pred[:, -1], expected, atol=1e-5, rtol=1e-4)


def test_step_matches_forward_and_every_parameter_learns():
    torch.manual_seed(1)
    model = small()
    frames = torch.rand(2, 4, 1, 16, 16)
    out = model(frames)
    state = None
    for t in range(4):
        pred, flow, state = model.step(frames[:, t], state)
        torch.testing.assert_close(pred, out.pred[:, t], atol=1e-5, rtol=1e-4)
        torch.testing.assert_close(flow, out.flow[:, t], atol=1e-5, rtol=1e-4)
    # Θ's last layer and D start at zero: after one optimiser step every parameter has a
    # gradient (a dead flow head would show here).
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    for _ in range(2):
        opt.zero_grad()
        loss = ((model(frames[:, :-1]).pred - frames[:, 1:]) ** 2).mean()
        loss.backward()
        opt.step()
    dead = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.any()]
    assert dead == []


def test_image_flow_doubles_and_upsamples():
    flow = torch.zeros(1, 2, 2, 2)
    flow[0, 0] = torch.tensor([[1.0, 1.0], [1.0, 1.0]])
    up = image_flow(flow)
    assert up.shape == (1, 2, 4, 4)
    assert torch.equal(up[0, 0], torch.full((4, 4), 2.0)) and not up[0, 1].any()


def test_border_padding_reads_edge_pixels():
    x = torch.arange(6.0).view(1, 1, 2, 3)
    flow = torch.zeros(1, 2, 2, 3)
    flow[:, 0] = 1.0
    assert warp(x, flow, padding="border")[0, 0].tolist() == [[1, 2, 2], [4, 5, 5]]
