"""``vstm eval`` on real video: classical rows beside the model, and the fit warning."""

import json

import pytest

from vstm.cli import main
from vstm.inference.fit import data_kind, input_mismatch, seen_size


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "digits"
    assert main(["train", "--tiny", "--out", str(out), "--steps", "2"]) == 0
    return out


def test_eval_on_video_prints_classical_rows(digits_run, tmp_path, write_video, capsys, caplog):
    video = tmp_path / "square.avi"
    write_video(video, 24, h=32, w=48)
    out = tmp_path / "e.json"
    args = ["eval", "--checkpoint", str(digits_run / "best.safetensors"), "--data", str(video)]
    assert main([*args, "--context", "4", "--num", "4", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "dis" in text and "farneback" in text and "constant velocity" in text
    rows = json.loads(out.read_text())["results"]
    assert list(rows)[1:] == ["copy-last-frame", "dis", "farneback"]
    for row in rows.values():
        assert row["sequences"] == 4 and 0 <= row["mse"] < 1
    # a textured square moving 2 px per frame: constant-velocity DIS beats copying
    assert rows["dis"]["mse"] < rows["copy-last-frame"]["mse"]
    # the checkpoint learned binary digits: one warning line says so
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert any("Moving MNIST digits, the input is natural video" in w for w in warnings)


def test_mismatch_rules():
    digits = {"model": "m", "train_config": {"data": "moving-mnist", "binarize": True}}
    video = {
        "model": "m",
        "model_config": {"in_channels": 3},
        "train_config": {"data": "clips/", "size": 96},
    }
    assert "binary Moving MNIST digits" in input_mismatch(digits, "natural")
    assert input_mismatch(digits, "digits") is None
    assert input_mismatch(video, "natural", channels=3, frame_size=(96, 128)) is None
    assert "grey" in input_mismatch(video, "natural", channels=1)
    far = input_mismatch(video, "natural", channels=3, frame_size=(480, 640))
    assert "480x640" in far and "--size 96" in far
    assert "natural video, the input is Moving MNIST digits" in input_mismatch(video, "digits")


def test_data_kinds_and_sizes():
    assert data_kind("moving_mnist") == "digits" and data_kind("x/mnist_test_seq.npy") == "digits"
    assert data_kind("photo-motion:/p") == "natural" and data_kind("v.mp4") == "natural"
    assert seen_size((480, 640), 96) == (96, 128)


def test_eval_scores_a_video_run_on_its_held_out_frames(tmp_path, write_video):
    video = tmp_path / "v.avi"
    write_video(video, 60, h=32, w=32)
    run = tmp_path / "run"
    train = ["train", "--tiny", "--model", "ae-convlstm-pixelflow", "--data", str(video)]
    train += ["--holdout", "0.5", "--frame-step", "2", "--context", "3", "--channels", "3"]
    assert main([*train, "--steps", "1", "--out", str(run)]) == 0
    out = tmp_path / "e.json"
    ckpt = str(run / "last.safetensors")
    assert main(["eval", "--checkpoint", ckpt, "--context", "3", "--json", str(out)]) == 0
    res = json.loads(out.read_text())
    assert res["span"] == [0.5, 1.0] and res["frame_step"] == 2
    # the last half of 30 subsampled frames: 15 frames, a 4-frame clip at each of 12 starts
    assert res["results"]["copy-last-frame"]["sequences"] == 12
    other = tmp_path / "other.avi"
    write_video(other, 20, h=32, w=32, seed=3)
    args = ["eval", "--checkpoint", ckpt, "--data", str(other), "--context", "3"]
    assert main([*args, "--json", str(out)]) == 0
    assert json.loads(out.read_text())["span"] is None  # not its data: every frame is new
