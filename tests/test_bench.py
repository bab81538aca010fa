"""``vstm bench``: the naive reference computes the shipped model's function, and the quick
benchmark runs and writes every key. No test here asserts a time."""

import json

import pytest
import torch
import torch.nn.functional as F

from vstm import build_model
from vstm.cli import main
from vstm.experiments import bench as bench_mod
from vstm.experiments.bench import curves_match
from vstm.models.reference import NaiveAEConvLSTMFlow

KEYS = [
    "peak_gflops",
    "train_fps",
    "train_gflops",
    "naive_train_fps",
    "bf16_train_fps",
    "stream_fps_64",
    "stream_fps_176x144",
    "peak_rss_mb",
]


def _live_model(**kw):
    torch.manual_seed(0)
    model = build_model("ae-convlstm-flow", **kw)
    with torch.no_grad():  # a non-zero flow so that Θ, the memory and the warp all matter
        model.flow.conv3.weight.normal_(0, 0.5)
        model.flow.conv3.bias.normal_(0, 0.5)
    return model


def test_naive_reference_has_the_paper_parameter_count():
    naive = NaiveAEConvLSTMFlow()
    assert sum(p.numel() for p in naive.parameters()) == 1_035_071


@pytest.mark.parametrize("flow_impl", ["auto", "direct"])
def test_naive_reference_equals_the_model_forward_and_backward(flow_impl):
    model = _live_model(hidden_channels=16, flow_kernel=7, flow_impl=flow_impl)
    naive = NaiveAEConvLSTMFlow.from_model(model)
    frames = torch.rand(2, 4, 1, 16, 20)
    out, ref = model(frames), naive(frames)
    assert out.flow.abs().max() > 1e-2
    assert (out.pred - ref.pred).abs().max() <= 1e-4
    assert (out.flow - ref.flow).abs().max() <= 1e-4
    for a, b in zip(out.state, ref.state, strict=True):
        assert (a - b).abs().max() <= 1e-5
    target = frames.roll(-1, dims=1)
    for o in (out, ref):
        F.mse_loss(o.pred, target).add(o.flow.square().mean()).backward()
    hc, cin = 16, 16
    gw, gb = model.memory.conv.weight.grad, model.memory.conv.bias.grad
    assert gw.abs().max() > 0
    for g in range(4):
        rows = slice(g * hc, (g + 1) * hc)
        torch.testing.assert_close(gw[rows, :cin], naive.wx[g].weight.grad, atol=1e-5, rtol=1e-4)
        torch.testing.assert_close(gw[rows, cin:], naive.wh[g].weight.grad, atol=1e-5, rtol=1e-4)
        torch.testing.assert_close(gb[rows], naive.wx[g].bias.grad, atol=1e-5, rtol=1e-4)
    pairs = [
        (model.encoder.conv, naive.encoder.conv),
        (model.decoder.conv, naive.decoder.conv),
        (model.flow.conv1, naive.theta[0]),
        (model.flow.conv2, naive.theta[1]),
        (model.flow.conv3, naive.theta[2]),
    ]
    for a, b in pairs:
        torch.testing.assert_close(a.weight.grad, b.weight.grad, atol=1e-5, rtol=1e-4)
        torch.testing.assert_close(a.bias.grad, b.bias.grad, atol=1e-5, rtol=1e-4)


def test_curves_match_tells_noise_from_a_shift():
    ref = [1.0 / (1 + 0.1 * i) + 0.01 * (-1) ** i for i in range(30)]
    same = [v * 1.001 for v in ref]
    shifted = [v * 1.2 for v in ref]
    assert curves_match(ref, same)["match"]
    assert not curves_match(ref, shifted)["match"]


def test_quick_bench_writes_every_key(tmp_path, capsys):
    out, md = tmp_path / "bench.json", tmp_path / "bench.md"
    assert (
        main(["bench", "--quick", "--threads", "1", "--json", str(out), "--markdown", str(md)]) == 0
    )
    data = json.loads(out.read_text())
    for key in KEYS:
        assert key in data, key
        assert isinstance(data[key], float) and data[key] > 0, (key, data[key])
    assert data["command"].startswith("vstm bench --quick")
    assert data["machine"]["threads"] == 1 and data["machine"]["cpu"]
    assert set(data["targets"]) >= {"train_frac_peak", "stream_fps_64", "peak_rss_mb"}
    # the path each measurement took and this machine class's targets
    from vstm.system import choose_precision, machine_class, probe

    want = choose_precision("auto", "cpu").precision
    assert data["train_precision"] == data["stream_precision"] == want
    assert data["train_memory_path"] in ("fft", "direct")
    assert data["details"]["path"]["precision"] == want
    assert data["machine"]["capabilities"]["cpu_flags"] == sorted(probe().cpu_flags)
    assert data["machine_targets"]["class"] == data["machine_class"] == machine_class(probe())
    assert "peak_rss_mb" in data["machine_targets"]["targets"]
    assert isinstance(data["fp32_train_fps"], float) and data["fp32_train_fps"] > 0
    text = md.read_text()
    assert "## Targets" in text and "naive reference" in text
    assert "Targets for this machine class" in text and "Chosen path" in text
    # onnxruntime's streaming beside PyTorch's, only when it is installed
    onnx_keys = ("onnx_stream_fps_64", "onnx_stream_fps_176x144")
    assert all(k in data for k in onnx_keys)
    if bench_mod.onnx_available():
        assert all(isinstance(data[k], float) and data[k] > 0 for k in onnx_keys)
        assert "onnxruntime" in text
    else:
        assert all(data[k] is None for k in onnx_keys)
    assert "Targets" in capsys.readouterr().out
