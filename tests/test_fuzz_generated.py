"""Generated fuzzing (hypothesis) of every command's numeric and path arguments, file types
and frame formats.

Where ``tests/test_fuzz.py`` replays a fixed corpus, these draw new combinations on every run
(seeded per test by hypothesis' database-free profile below, so CI is repeatable) and assert
the contract of issue 24 for each: exit status 0 or 2, never a traceback, one error line on
failure, nothing left under the final output name on failure, and no number computed from an
empty set in what a successful command writes.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from vstm import build_model
from vstm.cli import main
from vstm.train.checkpoint import save_checkpoint
from vstm.train.config import TINY_MODEL_OPTIONS, make_config, tiny_overrides

FUZZ = settings(
    max_examples=25,
    deadline=None,
    derandomize=True,  # the same examples on every run: CI stays repeatable
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def _frames(folder: Path, mode: str, n: int) -> None:
    """A folder of ``n`` PNG/TIFF frames in a PIL ``mode`` (8/16-bit, float, palette, alpha)."""
    folder.mkdir(parents=True, exist_ok=True)
    for t in range(n):
        base = np.zeros((24, 24), np.float64)
        base[4:12, (2 * t) % 12 : (2 * t) % 12 + 8] = 1.0
        if mode == "I;16":
            Image.fromarray((base * 60000).astype(np.uint16)).save(folder / f"{t:03d}.png")
        elif mode == "F":
            Image.fromarray(base.astype(np.float32)).save(folder / f"{t:03d}.tif")
        elif mode == "F-out-of-range":
            Image.fromarray((base * 300).astype(np.float32)).save(folder / f"{t:03d}.tif")
        else:
            img = Image.fromarray((base * 255).astype(np.uint8)).convert(mode)
            img.save(folder / f"{t:03d}.png")


KINDS = ("video", "short-video", "text", "empty", "png", "frames-L", "frames-RGBA", "frames-P",
         "frames-I;16", "frames-F", "frames-F-out-of-range", "missing", "safetensors")  # fmt: skip


def _make_input(root: Path, kind: str, checkpoint: Path, write_video) -> Path:
    path = root / f"in-{kind}"
    if kind == "video":
        path = path.with_suffix(".avi")
        write_video(path, 14, h=32, w=32)
    elif kind == "short-video":
        path = path.with_suffix(".avi")
        write_video(path, 2, h=32, w=32)
    elif kind == "text":
        path = path.with_suffix(".mp4")
        path.write_text("not a video\n")
    elif kind == "empty":
        path = path.with_suffix(".avi")
        path.write_bytes(b"")
    elif kind == "png":
        path = path.with_suffix(".png")
        Image.fromarray(np.zeros((8, 8), np.uint8)).save(path)
    elif kind.startswith("frames-"):
        _frames(path, kind[len("frames-") :], 10)
    elif kind == "safetensors":
        path = checkpoint
    return path


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("fuzzgen")
    torch.manual_seed(0)
    model = build_model("ae-convlstm-flow", **TINY_MODEL_OPTIONS["ae-convlstm-flow"])
    cfg = make_config(tiny_overrides()).to_dict()
    path = d / "model.safetensors"
    save_checkpoint(path, model, train_config=cfg, trainer={"step": 0})
    return path


def _run(argv: list, capsys) -> tuple[int, str]:
    try:
        code = main([str(a) for a in argv])
    except SystemExit as e:  # argparse's own refusal
        code = e.code
    except BaseException as e:  # a traceback: what this file hunts
        raise AssertionError(f"vstm {' '.join(map(str, argv))} raised {e!r}") from e
    return code, capsys.readouterr().err


def _assert_contract(argv, code: int, err: str, outputs: list[Path]) -> None:
    assert code in (0, 2), (argv, code, err)
    assert "Traceback" not in err, err
    if code == 2:
        assert len([ln for ln in err.splitlines() if "error" in ln]) == 1, (argv, err)
        for out in outputs:
            assert not out.exists() or (out.is_dir() and not any(out.rglob("*.*"))), (argv, out)


def _no_number_from_nothing(value, where: str) -> None:
    """Every number a command wrote is finite, and every count behind a mean is positive."""
    if isinstance(value, dict):
        if "sequences" in value and isinstance(value["sequences"], int | float):
            assert value["sequences"] > 0, where
        for k, v in value.items():
            _no_number_from_nothing(v, f"{where}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _no_number_from_nothing(v, f"{where}[{i}]")
    elif isinstance(value, float):
        assert math.isfinite(value), where  # a NaN or inf is a mean over nothing (or worse)


@FUZZ
@given(
    kind=st.sampled_from(KINDS),
    context=st.integers(-1, 40),
    num=st.integers(-1, 6),
    batch=st.integers(0, 9),
)
def test_eval(tmp_path_factory, checkpoint, write_video, capsys, kind, context, num, batch):
    root = tmp_path_factory.mktemp("eval")
    data = _make_input(root, kind, checkpoint, write_video)
    out = root / "e.json"
    argv = ["eval", "--checkpoint", checkpoint, "--data", data, "--context", context]
    argv += ["--num", num, "--batch-size", batch, "--json", out]
    code, err = _run(argv, capsys)
    _assert_contract(argv, code, err, [out])
    if code == 0:
        _no_number_from_nothing(json.loads(out.read_text()), "eval")


@FUZZ
@given(
    kind=st.sampled_from(KINDS),
    size=st.sampled_from(["native", "train", "0", "1", "7", "48", "100000", "abc"]),
    frame_step=st.integers(-1, 5),
    max_frames=st.integers(-1, 12),
    horizon=st.one_of(st.none(), st.integers(-2, 6)),
)
def test_predict(
    tmp_path_factory, checkpoint, write_video, capsys, kind, size, frame_step, max_frames, horizon
):
    root = tmp_path_factory.mktemp("predict")
    source = _make_input(root, kind, checkpoint, write_video)
    out = root / "out"
    argv = ["predict", "--checkpoint", checkpoint, source, "--out", out, "--size", size]
    argv += ["--frame-step", frame_step, "--max-frames", max_frames, "--flo"]
    if horizon is not None:
        argv += ["--horizon", horizon]
    code, err = _run(argv, capsys)
    _assert_contract(argv, code, err, [out])


@FUZZ
@given(
    kind=st.sampled_from(("moving-mnist", "photo-motion", *KINDS)),
    context=st.integers(0, 12),
    batch=st.integers(0, 5),
    size=st.sampled_from([None, 0, 2, 8, 32, 4096]),
    holdout=st.sampled_from([None, 0.0, 0.5, 1.0, 2.0]),
)
def test_train(
    tmp_path_factory, checkpoint, write_video, capsys, kind, context, batch, size, holdout
):
    root = tmp_path_factory.mktemp("train")
    data = (
        kind
        if kind in ("moving-mnist", "photo-motion")
        else _make_input(root, kind, checkpoint, write_video)
    )
    out = root / "run"
    argv = ["train", "--tiny", "--data", data, "--context", context, "--batch-size", batch]
    argv += ["--steps", 1, "--out", out]
    if size is not None:
        argv += ["--size", size]
    if holdout is not None:
        argv += ["--holdout", holdout]
    code, err = _run(argv, capsys)
    _assert_contract(argv, code, err, [out / "last.safetensors", out / "best.safetensors"])
    if code == 0:
        for line in (out / "metrics.jsonl").read_text().splitlines():
            _no_number_from_nothing(json.loads(line), "metrics")


@FUZZ
@given(
    kind=st.sampled_from(("moving-mnist", "video", "frames-I;16", "frames-P", "text", "missing")),
    zoom=st.integers(-1, 4),
    num=st.integers(-1, 3),
    seq_len=st.integers(0, 8),
)
def test_data_preview(tmp_path_factory, checkpoint, write_video, capsys, kind, zoom, num, seq_len):
    root = tmp_path_factory.mktemp("preview")
    data = kind if kind == "moving-mnist" else _make_input(root, kind, checkpoint, write_video)
    out = root / "p.png"
    argv = ["data", "preview", "--data", data, "--out", out, "--zoom", zoom, "--num", num]
    argv += ["--seq-len", seq_len]
    code, err = _run(argv, capsys)
    _assert_contract(argv, code, err, [out])
