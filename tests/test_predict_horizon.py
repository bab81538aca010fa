"""``vstm predict --horizon``: closed-loop forecasts written after the input frames."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vstm.cli import main
from vstm.errors import VstmError
from vstm.inference.next_frame import predict_video
from vstm.models import build_model
from vstm.train.checkpoint import save_checkpoint

av = pytest.importorskip("av")

TINY = dict(
    enc_channels=4, hidden_channels=8, enc_kernel=3, lstm_kernel=3, flow_kernel=5, dec_kernel=3
)


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("ckpt") / "m.safetensors"
    return save_checkpoint(path, build_model("ae-convlstm-flow", **TINY))


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    src = tmp_path_factory.mktemp("video") / "in.mp4"
    with av.open(str(src), "w") as c:
        s = c.add_stream("mpeg4", rate=10)
        s.width, s.height, s.pix_fmt = 32, 32, "yuv420p"
        for t in range(6):
            img = np.zeros((32, 32, 3), np.uint8)
            img[8:16, 2 + 3 * t : 10 + 3 * t] = 255
            for p in s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    return src


def _frames(path) -> int:
    with av.open(str(path)) as c:
        return sum(1 for _ in c.decode(video=0))


def test_horizon_appends_forecast_frames(ckpt, video, tmp_path, capsys):
    out = tmp_path / "pred"
    args = ["predict", "--checkpoint", ckpt, video, "--out", out, "--size", "native"]
    assert main([*map(str, args), "--max-frames", "4", "--horizon", "5", "--png", "--flo"]) == 0
    assert _frames(out / "in_predict.mp4") == 4 + 5
    assert len(list((out / "frames").glob("*.png"))) == 9
    assert len(list((out / "flow").glob("*.flo"))) == 9  # the forecast has flows too
    assert "5 forecast frames" in capsys.readouterr().out
    assert not [p for p in out.rglob("*") if ".tmp" in p.name]


@pytest.mark.parametrize("horizon", ["0", "-3"])
def test_bad_horizon_is_one_line_error(ckpt, video, tmp_path, capsys, horizon):
    out = tmp_path / "pred"
    args = ["predict", "--checkpoint", str(ckpt), str(video), "--out", str(out)]
    assert main([*args, "--horizon", horizon]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--horizon" in err[0] and ">= 1" in err[0]
    assert not out.exists()


def test_unwritable_output_is_one_line_error(ckpt, video, tmp_path, capsys):
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    args = ["predict", "--checkpoint", str(ckpt), str(video), "--out", str(blocker / "sub")]
    assert main([*args, "--horizon", "2"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "cannot write" in err[0] and "--out" in err[0]


def test_failure_mid_forecast_leaves_nothing_half_written(ckpt, video, tmp_path, monkeypatch):
    model = build_model("ae-convlstm-flow", **TINY).eval()
    real = model.iter_rollout

    def failing(*a, **kw):
        for i, item in enumerate(real(*a, **kw)):
            if i == 2:
                raise RuntimeError("disk on fire")
            yield item

    monkeypatch.setattr(model, "iter_rollout", failing)
    out = tmp_path / "pred"
    with pytest.raises(RuntimeError, match="disk on fire"):
        predict_video(model, {}, video, out, horizon=4, png=True, max_frames=3)
    assert list(out.rglob("*.*")) == []  # no video, no PNG, no temporary file


def test_predict_video_rejects_bad_horizon_before_writing(video, tmp_path):
    model = build_model("ae-convlstm-flow", **TINY).eval()
    with pytest.raises(VstmError, match="horizon"):
        predict_video(model, {}, video, tmp_path / "o", horizon=0)
    assert not (tmp_path / "o").exists()


def test_cuda_graphs_without_a_gpu_is_one_line_error(ckpt, video, tmp_path, capsys):
    out = tmp_path / "out"
    argv = ["predict", "--checkpoint", str(ckpt), str(video), "--out", str(out)]
    assert main([*argv, "--device", "cpu", "--cuda-graphs"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--cuda-graphs needs a CUDA device" in err
    assert not out.exists()
