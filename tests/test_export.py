"""``vstm export``: the streaming step in ONNX matches PyTorch's ``model.step``."""

from __future__ import annotations

import sys

import pytest
import torch

from vstm.cli import main
from vstm.data import build_dataset
from vstm.errors import VstmError
from vstm.export import export_onnx, onnxruntime_session, verify_onnx
from vstm.models import build_model
from vstm.train.checkpoint import save_checkpoint

TINY = {
    "ae-convlstm-flow": dict(
        enc_channels=4, hidden_channels=8, lstm_kernel=3, flow_kernel=5, flow_impl="gemm"
    ),
    "ae-convlstm": dict(enc_channels=4, hidden_channels=8, lstm_kernel=3, lstm_impl="fft"),
    "ae-fclstm": dict(frame_height=32, frame_width=32, enc_channels=4, hidden_units=16),
    "ae-conv": dict(window=3, enc_channels=4, mid_channels=8, kernel=3),
}


def _model(name: str):
    torch.manual_seed(0)
    model = build_model(name, **TINY[name]).eval()
    if name == "ae-convlstm-flow":
        with torch.no_grad():  # a non-zero flow, so that the exported warp matters
            model.flow.conv3.weight.normal_(0, 0.5)
            model.flow.conv3.bias.normal_(0, 0.5)
    return model


def _real_like(n: int = 2, t: int = 6, size: int = 32) -> torch.Tensor:
    ds = build_dataset("moving-mnist", split="test", num_sequences=n, seq_len=t, size=size)
    return torch.stack([ds[i]["frames"] for i in range(n)])  # (B, T, 1, H, W)


@pytest.mark.parametrize("name", sorted(TINY))
def test_onnx_step_matches_pytorch_over_several_steps(name, tmp_path):
    pytest.importorskip("onnxruntime")
    model = _model(name)
    path = tmp_path / "step.onnx"
    info = export_onnx(model, path, height=32, width=32)
    assert info["inputs"][0] == "frame" and info["outputs"][0] == "prediction"
    assert ("flow" in info["outputs"]) == model.has_flow
    g = torch.Generator().manual_seed(1)
    random = torch.rand(2, 6, 1, 32, 32, generator=g)
    for frames in (random, _real_like()):
        r = verify_onnx(path, model, frames)
        assert r["steps"] == 6 and r["max_abs_diff"] <= 1e-4, r
    if info["dynamic"]:  # another frame size and batch through the same graph
        r = verify_onnx(path, model, torch.rand(3, 4, 1, 24, 40, generator=g))
        assert r["max_abs_diff"] <= 1e-4, r


def test_flow_model_exports_h_c_and_the_warp(tmp_path):
    pytest.importorskip("onnxruntime")
    import onnx

    path = tmp_path / "step.onnx"
    info = export_onnx(_model("ae-convlstm-flow"), path, height=32, width=32)
    assert info["inputs"] == ["frame", "h", "c"]
    assert info["outputs"] == ["prediction", "flow", "h_out", "c_out"]
    graph = onnx.load(str(path)).graph
    ops = {n.op_type for n in graph.node}
    assert "GridSample" in ops and "Conv" in ops
    assert not ops & {"DFT", "Einsum"}  # the direct convolution path, not the FFT or GEMMs


def test_model_without_a_tensor_streaming_state_is_a_one_line_error(tmp_path):
    seg = build_model("segnet-flow", num_classes=3, seg_width=4, seg_depth=2, hidden_channels=8)
    with pytest.raises(VstmError, match="export one of"):
        export_onnx(seg, tmp_path / "x.onnx")
    no_step = build_model("ae-conv", window=2, enc_channels=4, mid_channels=4, kernel=3)
    no_step.step = None
    with pytest.raises(VstmError, match="no streaming step"):
        export_onnx(no_step, tmp_path / "x.onnx")
    assert not list(tmp_path.iterdir())


def test_low_opset_and_missing_onnxruntime_are_clear_errors(tmp_path, monkeypatch):
    with pytest.raises(VstmError, match="opset 16"):
        export_onnx(_model("ae-conv"), tmp_path / "x.onnx", opset=13)
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(VstmError, match=r"pip install 'vstm\[onnx\]'"):
        onnxruntime_session(tmp_path / "x.onnx")


def test_cli_export_writes_and_verifies(tmp_path, capsys):
    pytest.importorskip("onnxruntime")
    ckpt = save_checkpoint(tmp_path / "m.safetensors", _model("ae-convlstm-flow"))
    out = tmp_path / "step.onnx"
    args = ["export", "--checkpoint", str(ckpt), "--onnx", str(out), "--height", "32"]
    assert main([*args, "--width", "32"]) == 0
    printed = capsys.readouterr().out
    assert out.is_file() and "(ok)" in printed and "h_out" in printed
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    assert main(["export", "--checkpoint", str(ckpt), "--onnx", str(blocker / "s.onnx")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--onnx" in err[0] and "not a folder" in err[0]
