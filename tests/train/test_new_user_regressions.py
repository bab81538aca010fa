"""Regressions of issue 15's "found when tried as a new user would": each failed before the fix.

Each fix covers its class: every registered model has a tiny preset, every ``--data`` alias is
resolved in one place, every numeric flag is checked where it is parsed, every output path
before any work starts, and settings inherited from a checkpoint are never blamed on the user.
"""

from __future__ import annotations

import argparse
import json

import av
import numpy as np
import pytest
import torch
from PIL import Image

from vstm import build_model
from vstm.cli import build_parser, main
from vstm.errors import VstmError
from vstm.models import model_names
from vstm.train.checkpoint import save_checkpoint
from vstm.train.config import TINY_MODEL_OPTIONS, make_config, tiny_overrides


def encode_video(path, n: int, size: int = 32) -> None:
    """n frames of a square moving right, mpeg4."""
    with av.open(str(path), "w") as c:
        s = c.add_stream("mpeg4", rate=10)
        s.width = s.height = size
        s.pix_fmt = "yuv420p"
        for t in range(n):
            img = np.zeros((size, size, 3), np.uint8)
            img[8:16, 2 + 2 * t : 10 + 2 * t] = 255
            for p in s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)


def error_line(capsys) -> str:
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if "error" in ln]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def parse_exit(argv: list[str], capsys) -> str:
    """argv must be refused by the parser (exit 2); return its error line."""
    with pytest.raises(SystemExit) as e:
        build_parser().parse_args(argv)
    assert e.value.code == 2
    return error_line(capsys)


# -------------------------------------------------------------------- a tiny preset per model
def test_every_registered_model_has_a_tiny_preset():
    assert set(TINY_MODEL_OPTIONS) == set(model_names())


@pytest.mark.parametrize("model", model_names("next-frame"))
def test_train_tiny_works_for_every_model(model, tmp_path):
    out = tmp_path / model
    assert main(["train", "--model", model, "--tiny", "--steps", "1", "--out", str(out)]) == 0
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["model"] == model and cfg["model_options"] == TINY_MODEL_OPTIONS[model]


def test_tiny_preset_keeps_sizes_under_a_model_option():
    cfg = make_config(tiny_overrides(), {"model_options": {"lstm_impl": "fft"}})
    assert cfg.model_options == {**TINY_MODEL_OPTIONS["ae-convlstm-flow"], "lstm_impl": "fft"}


# ------------------------------------------------------------------------ one data alias table
@pytest.mark.parametrize("alias", ["moving_mnist", "Moving-MNIST", "moving-mnist"])
def test_data_aliases_train_alike(alias):
    cfg = make_config({"data": alias})
    assert cfg.data == "moving-mnist" and cfg.resolved_loss() == "bce"
    for command in ("train", "eval --checkpoint x", "data preview --out x.png"):
        args = build_parser().parse_args([*command.split(), "--data", alias])
        assert args.data == "moving-mnist"


# ------------------------------------------------------------- flags checked where they parse
@pytest.mark.parametrize(
    "argv,flag",
    [
        (["train", "--batch-size", "-3"], "--batch-size"),
        (["train", "--batch-size", "0"], "--batch-size"),
        (["train", "--steps", "0"], "--steps"),
        (["train", "--context", "0"], "--context"),
        (["train", "--lr", "nan"], "--lr"),
        (["train", "--lr", "-1e-3"], "--lr"),
        (["train", "--lr", "inf"], "--lr"),
        (["train", "--workers", "-1"], "--workers"),
        (["eval", "--checkpoint", "x", "--num", "0"], "--num"),
        (["predict", "in", "--checkpoint", "x", "--out", "o", "--frame-step", "0"], "--frame-step"),
        (["demo", "--minutes", "0"], "--minutes"),
        (["data", "preview", "--out", "x.png", "--seq-len", "-1"], "--seq-len"),
        (["info", "--height", "0"], "--height"),
    ],
)
def test_non_positive_flags_are_refused_by_the_parser(argv, flag, capsys):
    assert flag in parse_exit(argv, capsys)


def _numeric_actions(parser: argparse.ArgumentParser):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                yield from _numeric_actions(sub)
        elif action.type in (int, float) and not action.choices:
            yield parser.prog, action.option_strings


def test_every_numeric_flag_has_a_checking_type():
    assert list(_numeric_actions(build_parser())) == []


def test_config_file_values_are_range_checked(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("batch_size = -3\n")
    assert main(["train", "--config", str(path), "--out", str(tmp_path / "r")]) == 2
    assert not (tmp_path / "r").exists()
    with pytest.raises(VstmError, match="batch_size must be >= 1"):
        make_config({"batch_size": 0})


# --------------------------------------------------------------- paths checked before the work
def test_out_that_is_a_file_is_refused_before_work(tmp_path, capsys):
    f = tmp_path / "file"
    f.write_text("x")
    assert main(["train", "--tiny", "--out", str(f)]) == 2
    assert "--out" in error_line(capsys) and f.read_text() == "x"
    assert main(["train", "--tiny", "--out", str(f / "sub")]) == 2
    assert "is a file" in error_line(capsys)
    assert main(["predict", str(f), "--checkpoint", str(f), "--out", str(f)]) == 2
    assert "--out" in error_line(capsys)
    assert main(["eval", "--checkpoint", str(f), "--json", str(tmp_path)]) == 2
    assert "--json" in error_line(capsys)
    assert main(["data", "preview", "--out", str(tmp_path)]) == 2
    assert "--out" in error_line(capsys)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


# --------------------------------------------------------------- messages name the real flags
def test_short_video_advice_names_context_not_seq_len(tmp_path, capsys):
    one = tmp_path / "one_frame.mp4"
    encode_video(one, 1)
    assert main(["train", "--tiny", "--data", str(one), "--out", str(tmp_path / "r")]) == 2
    line = error_line(capsys)
    assert "--context" in line and "--seq-len" not in line


# ---------------------------------------------------- a checkpoint's setting is not the user's
@pytest.fixture
def binarised_checkpoint(tmp_path):
    torch.manual_seed(0)
    model = build_model("ae-convlstm-flow", **TINY_MODEL_OPTIONS["ae-convlstm-flow"])
    cfg = make_config(tiny_overrides(), {"binarize": True}).to_dict()
    return save_checkpoint(tmp_path / "bin.safetensors", model, train_config=cfg)


def test_eval_on_video_ignores_inherited_binarize(binarised_checkpoint, tmp_path, capsys):
    clip = tmp_path / "clip.mp4"
    encode_video(clip, 12)
    argv = ["eval", "--checkpoint", str(binarised_checkpoint), "--data", str(clip)]
    assert main([*argv, "--context", "3", "--json", str(tmp_path / "e.json")]) == 0
    assert json.loads((tmp_path / "e.json").read_text())["binarize"] is False
    capsys.readouterr()
    assert main([*argv, "--context", "3", "--binarize"]) == 2  # the user's own flag: refused
    assert "--binarize" in error_line(capsys)


# ------------------------------------------------------------- predict on frames of mixed size
def test_predict_on_frames_of_mixed_sizes(binarised_checkpoint, tmp_path, caplog):
    frames = tmp_path / "frames"
    frames.mkdir()
    for t in range(4):
        side = 33 if t % 2 else 32
        Image.fromarray(np.full((side, side), 40 * t, np.uint8)).save(frames / f"f{t}.png")
    out = tmp_path / "pred"
    argv = ["predict", str(frames), "--checkpoint", str(binarised_checkpoint), "--out", str(out)]
    assert main([*argv, "--size", "native"]) == 0
    assert (out / "frames_predict.mp4").stat().st_size > 0
    assert "resizing" in caplog.text
