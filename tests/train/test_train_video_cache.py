"""``vstm train`` on real video with --frame-step and the decoded-frame cache (--frame-cache)."""

import json

import numpy as np
import pytest

from vstm.cli import main


@pytest.fixture(scope="module")
def colour_video(tmp_path_factory, write_video):
    path = tmp_path_factory.mktemp("video") / "street.avi"
    write_video(path, 100)
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
