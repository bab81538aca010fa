"""``vstm train`` on real video with --frame-step and the decoded-frame cache (--frame-cache)."""

import json

import av
import numpy as np
import pytest

from vstm.cli import main


def _colour_video(path, n: int = 100, h: int = 40, w: int = 56) -> None:
    rng = np.random.default_rng(0)
    tex = rng.integers(0, 256, (12, 12, 3), dtype=np.uint8)
    with av.open(str(path), "w") as c:
        s = c.add_stream("mpeg4", rate=10)
        s.width, s.height, s.pix_fmt = w, h, "yuv420p"
        for t in range(n):
            img = np.full((h, w, 3), (30, 60, 90), np.uint8)
            x = (2 * t) % (w - 12)
            img[10:22, x : x + 12] = tex
            for p in s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)


@pytest.fixture(scope="module")
def colour_video(tmp_path_factory):
    path = tmp_path_factory.mktemp("video") / "street.avi"
    _colour_video(path)
    return path


def test_train_from_the_frame_cache(colour_video, tmp_path, capsys):
    cache, out = tmp_path / "cache", tmp_path / "run"
    argv = ["train", "--tiny", "--data", str(colour_video), "--channels", "3", "--steps", "2"]
    argv += ["--frame-step", "2", "--frame-cache", str(cache), "--out", str(out)]
    assert main(argv) == 0
    (npy,) = cache.glob("*.npy")
    assert np.load(npy, mmap_mode="r").shape == (100, 32, 32, 3)  # every frame, --size 32
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["frame_step"] == 2 and cfg["frame_cache"] == str(cache)
    assert (out / "best.safetensors").exists()


def test_frame_options_are_for_video_only(tmp_path, capsys):
    argv = ["train", "--tiny", "--frame-cache", str(tmp_path / "c"), "--out", str(tmp_path / "r")]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "apply to real video" in err
