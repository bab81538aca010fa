"""Fuzz: a seeded, generated corpus of broken inputs for every command that reads files.

Videos truncated at many offsets and with flipped bytes; frame folders with mixed sizes,
modes and unreadable files; checkpoints truncated, with oversized or wrong-typed headers;
config files with wrong types and unknown keys. For every case: no traceback, exit status 0
or 2 (a one-line error), and no partial output file. Most cases call ``main(argv)`` in
process; a few run the real command line. The corpus is the same on every run (seeded).
"""

from __future__ import annotations

import json
import random
import struct
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest
import torch
from PIL import Image

from vstm import build_model
from vstm.cli import main
from vstm.train.checkpoint import save_checkpoint
from vstm.train.config import TINY_MODEL_OPTIONS, make_config, tiny_overrides

SEED = 15
rng = random.Random(SEED)


# ------------------------------------------------------------------------------ good inputs
def encode_video(path: Path, n: int = 8, size: int = 32) -> None:
    with av.open(str(path), "w") as c:
        s = c.add_stream("mpeg4", rate=10)
        s.width = s.height = size
        s.pix_fmt = "yuv420p"
        s.codec_context.gop_size = 4
        for t in range(n):
            img = np.zeros((size, size, 3), np.uint8)
            img[8:16, 2 + 2 * t : 10 + 2 * t] = 255
            for p in s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    d = tmp_path_factory.mktemp("good")
    encode_video(d / "clip.mp4")
    torch.manual_seed(0)
    model = build_model("ae-convlstm-flow", **TINY_MODEL_OPTIONS["ae-convlstm-flow"])
    cfg = make_config(tiny_overrides()).to_dict()
    save_checkpoint(d / "model.safetensors", model, train_config=cfg, trainer={"step": 0})
    return d


def run_main(argv: list[str], capsys) -> tuple[int, str]:
    """main(argv) -> (exit status, stderr); any exception but a clean exit fails the test."""
    try:
        code = main([str(a) for a in argv])
    except SystemExit as e:  # argparse
        code = e.code
    except BaseException as e:  # a traceback: the bug this file hunts
        raise AssertionError(f"vstm {' '.join(map(str, argv))} raised {e!r}") from e
    return code, capsys.readouterr().err


def check(argv, capsys, outputs: list[Path]) -> int:
    code, err = run_main(argv, capsys)
    assert code in (0, 2), (argv, code, err)
    assert "Traceback" not in err, err
    if code == 2:
        errors = [ln for ln in err.splitlines() if "error" in ln]
        assert len(errors) == 1, (argv, err)
        for out in outputs:  # nothing half-made is left behind
            left = [out] if out.is_file() else list(out.rglob("*")) if out.is_dir() else []
            assert not [p for p in left if p.is_file()], (argv, err, left)
    return code


# ------------------------------------------------------------------------------ broken videos
def _video_cases() -> list[tuple[str, int, int]]:
    cases = [("truncate", k, 0) for k in (0, 1, 7, 8, 16, 31, 32, 33, 48, 64, 100, 200)]
    cases += [("truncate-frac", rng.randrange(1000), 0) for _ in range(24)]
    cases += [("flip", rng.randrange(1000), rng.randrange(1, 32)) for _ in range(40)]
    return cases


VIDEO_CASES = _video_cases()


def _broken_video(good_bytes: bytes, kind: str, a: int, b: int) -> bytes:
    if kind == "truncate":
        return good_bytes[:a]
    if kind == "truncate-frac":
        return good_bytes[: len(good_bytes) * a // 1000]
    r = random.Random(a * 1000 + b)
    data = bytearray(good_bytes)
    for _ in range(b):
        data[r.randrange(len(data))] ^= 1 << r.randrange(8)
    return bytes(data)


@pytest.mark.parametrize("kind,a,b", VIDEO_CASES)
def test_broken_video(kind, a, b, good, tmp_path, capsys):
    video = tmp_path / "v.mp4"
    video.write_bytes(_broken_video((good / "clip.mp4").read_bytes(), kind, a, b))
    ckpt = good / "model.safetensors"
    out = tmp_path / "pred"
    argv = ["predict", video, "--checkpoint", ckpt, "--out", out, "--size", "native", "--png"]
    check(argv, capsys, [out])
    png = tmp_path / "p.png"
    check(["data", "preview", "--data", video, "--out", png, "--seq-len", "3"], capsys, [png])
    js = tmp_path / "e.json"
    argv = ["eval", "--checkpoint", ckpt, "--data", video, "--context", "2", "--json", js]
    check(argv, capsys, [js])


# ------------------------------------------------------------------------- broken frame folders
MODES = ["L", "RGB", "RGBA", "P", "1", "I;16", "I", "F", "LA", "CMYK"]


def _frame_folder(root: Path, seed: int) -> None:
    r = random.Random(seed)
    root.mkdir()
    n = r.randrange(1, 7)
    for i in range(n):
        kind = r.choice(["ok", "ok", "size", "mode", "garbage", "empty", "dir", "truncated"])
        path = root / f"f{i:02d}.{r.choice(['png', 'jpg', 'bmp'])}"
        side = 24 if kind != "size" else r.choice([1, 2, 23, 25, 33, 40])
        mode = r.choice(MODES) if kind == "mode" else "L"
        img = Image.fromarray(np.full((side, side + 3), 17 * i, np.uint8)).convert(mode)
        if kind == "garbage":
            path.write_bytes(bytes(r.randrange(256) for _ in range(r.randrange(1, 200))))
        elif kind == "empty":
            path.write_bytes(b"")
        elif kind == "dir":
            path.mkdir()
        else:
            try:
                img.save(path.with_suffix(".png") if mode not in ("L", "RGB") else path)
            except OSError:
                img.convert("L").save(path)
            if kind == "truncated":
                for p in root.glob(f"f{i:02d}.*"):
                    if p.is_file():
                        p.write_bytes(p.read_bytes()[: r.randrange(1, 60)])


@pytest.mark.parametrize("seed", range(60))
def test_broken_frame_folder(seed, good, tmp_path, capsys):
    frames = tmp_path / "frames"
    _frame_folder(frames, SEED * 1000 + seed)
    ckpt = good / "model.safetensors"
    out = tmp_path / "pred"
    check(["predict", frames, "--checkpoint", ckpt, "--out", out], capsys, [out])
    png = tmp_path / "p.png"
    argv = ["data", "preview", "--data", frames, "--out", png, "--seq-len", "2", "--size", "16"]
    check(argv, capsys, [png])


# ---------------------------------------------------------------------------- broken checkpoints
def _with_header(good_bytes: bytes, edit) -> bytes:
    """Re-encode a checkpoint with its vstm header JSON (or whole header) edited."""
    n = struct.unpack("<Q", good_bytes[:8])[0]
    head = json.loads(good_bytes[8 : 8 + n])
    head = edit(head)
    raw = json.dumps(head).encode() if not isinstance(head, bytes) else head
    raw += b" " * (-len(raw) % 8)
    return struct.pack("<Q", len(raw)) + raw + good_bytes[8 + n :]


def _vstm(edit):
    def outer(head):
        meta = json.loads(head["__metadata__"]["vstm"])
        head["__metadata__"]["vstm"] = json.dumps(edit(meta)) if edit else "{"
        return head

    return outer


def _set(key, value):
    def edit(meta):
        if value is KeyError:
            meta.pop(key, None)
        else:
            meta[key] = value
        return meta

    return edit


def _ckpt_cases():
    cases = []
    for v in [None, 3, "x", [], {}, {"hidden_channels": "8"}, {"bogus": 1}, {"in_channels": -1}]:
        cases.append(("model_config", v))
    for v in [None, 3, "nope", [], "ae-conv"]:
        cases.append(("model", v))
    for v in [None, "x", [], {"size": "big"}, {"data": 3}, {"bogus": 1}, {"binarize": "yes"}]:
        cases.append(("train_config", v))
    for v in [None, [], "x", {"step": "3"}]:
        cases.append(("trainer", v))
    for v in [None, "vstm-checkpoint-0", 1]:
        cases.append(("format", v))
    for key in ("model", "model_config", "trainer", "format"):
        cases.append((key, KeyError))
    cases += [("vstm-json", None), ("vstm-list", None), ("no-metadata", None)]
    cases += [("len", v) for v in (0, 1, 7, 2**31, 2**40, 2**63, 2**64 - 1)]
    cases += [("truncate", rng.randrange(0, 4000)) for _ in range(16)]
    cases += [("flip-header", rng.randrange(10**6)) for _ in range(16)]
    return cases


CKPT_CASES = _ckpt_cases()


def _broken_ckpt(good_bytes: bytes, kind, v) -> bytes:
    if kind == "len":
        return struct.pack("<Q", v) + good_bytes[8:]
    if kind == "truncate":
        return good_bytes[: v % len(good_bytes)]
    if kind == "flip-header":
        r = random.Random(v)
        n = struct.unpack("<Q", good_bytes[:8])[0]
        data = bytearray(good_bytes)
        for _ in range(r.randrange(1, 6)):
            data[r.randrange(8 + n)] ^= 1 << r.randrange(8)
        return bytes(data)
    if kind == "vstm-json":
        return _with_header(good_bytes, _vstm(None))
    if kind == "vstm-list":
        return _with_header(good_bytes, _vstm(lambda m: [m]))
    if kind == "no-metadata":
        return _with_header(good_bytes, lambda h: {k: v for k, v in h.items() if k[0] != "_"})
    return _with_header(good_bytes, _vstm(_set(kind, v)))


@pytest.mark.parametrize("kind,v", CKPT_CASES, ids=[f"{k}-{v!r}"[:40] for k, v in CKPT_CASES])
def test_broken_checkpoint(kind, v, good, tmp_path, capsys):
    ckpt = tmp_path / "c.safetensors"
    ckpt.write_bytes(_broken_ckpt((good / "model.safetensors").read_bytes(), kind, v))
    out = tmp_path / "pred"
    argv = ["predict", good / "clip.mp4", "--checkpoint", ckpt, "--out", out, "--max-frames", "2"]
    check(argv, capsys, [out])
    js = tmp_path / "e.json"
    argv = ["eval", "--checkpoint", ckpt, "--num", "2", "--context", "2", "--json", js]
    check(argv, capsys, [js])
    run = tmp_path / "run"  # a run folder whose only checkpoint is this one
    run.mkdir()
    (run / "last.safetensors").write_bytes(ckpt.read_bytes())
    before = sorted(p.name for p in run.iterdir())
    code = check(["train", "--resume", run, "--steps", "1"], capsys, [])
    if code == 2:
        assert sorted(p.name for p in run.iterdir() if p.name != ".lock") == before


# ------------------------------------------------------------------------------ broken configs
def _config_cases():
    values = [-3, 0, 1.5, "x", True, None, [], {}, 10**30, float("nan"), "moving_mnist"]
    keys = ["batch_size", "context", "lr", "model", "data", "precision", "steps", "size"]
    keys += ["model_options", "loss", "seed", "workers", "bogus_key", "out"]
    cases = []
    for _ in range(40):
        k, v = rng.choice(keys), rng.choice(values)
        cases.append((rng.choice(["toml", "yaml", "json"]), {k: v}))
    cases += [("toml", "steps = [1, 2"), ("yaml", "a: [1"), ("json", "{"), ("json", "[1, 2]")]
    cases += [("yaml", "- 1\n- 2\n"), ("toml", ""), ("yaml", ""), ("txt", "steps = 1")]
    cases += [("toml", "\x00\x01"), ("json", '{"model_options": {"hidden": 3}}')]
    return cases


CONFIG_CASES = _config_cases()


def _write_config(path: Path, fmt: str, content) -> Path:
    path = path.with_suffix(f".{fmt}")
    if isinstance(content, str):
        path.write_text(content)
    elif fmt == "json":
        path.write_text(json.dumps(content))
    elif fmt == "yaml":
        import yaml

        path.write_text(yaml.safe_dump(content))
    else:
        lines = []
        for k, v in content.items():
            if v is None or v == []:
                continue  # TOML has no null; an empty array is fine but boring
            lines.append(f"{k} = {_toml(v)}")
        path.write_text("\n".join(lines) + "\n")
    return path


def _toml(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float) and v != v:
        return "nan"
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{k} = {_toml(x)}" for k, x in v.items()) + " }"
    return str(v)


@pytest.mark.parametrize(
    "fmt,content", CONFIG_CASES, ids=[str(i) for i in range(len(CONFIG_CASES))]
)
def test_broken_config(fmt, content, tmp_path, capsys):
    if isinstance(content, dict) and "out" in content:
        content = {"out": str(tmp_path / "elsewhere")}
    cfg = _write_config(tmp_path / "c", fmt, content)
    out = tmp_path / "run"
    argv = ["train", "--tiny", "--config", cfg, "--steps", "1", "--out", out]
    check(argv, capsys, [out, tmp_path / "elsewhere"])


# --------------------------------------------------------------- a few through the real CLI
@pytest.mark.parametrize("case", range(6))
def test_real_command_line(case, good, tmp_path):
    r = random.Random(case)
    video = tmp_path / "v.mp4"
    data = (good / "clip.mp4").read_bytes()
    video.write_bytes(data[: r.randrange(len(data))])
    ckpt = tmp_path / "c.safetensors"
    data = (good / "model.safetensors").read_bytes()
    ckpt.write_bytes(data[: r.randrange(len(data))] if case % 2 else data)
    argv = ["predict", video, "--checkpoint", ckpt, "--out", tmp_path / "o", "--size", "native"]
    p = subprocess.run(
        [sys.executable, "-m", "vstm", *map(str, argv)], capture_output=True, text=True
    )
    assert p.returncode in (0, 2) and "Traceback" not in p.stderr, p.stderr
