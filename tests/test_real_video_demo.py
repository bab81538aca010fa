"""The shipped real-video model: the demo's real part, and the advice that names it."""

import json
import logging

from vstm.cli import main
from vstm.demo import REAL_PRETRAINED, real_video
from vstm.inference.fit import input_mismatch
from vstm.models import pretrained


def test_real_video_model_ships():
    keys = {e.key for e in pretrained.entries()}
    assert f"{REAL_PRETRAINED[0]}/{REAL_PRETRAINED[1]}" in keys


def test_demo_real_part_on_videos(tmp_path, write_video):
    videos = tmp_path / "videos"
    videos.mkdir()
    write_video(videos / "a.avi", 140, seed=0)  # held out: 14 frames at step 2
    write_video(videos / "b.avi", 160, seed=1)
    out = tmp_path / "real"
    r = real_video(out, videos, clip_frames=12)
    report = json.loads((out / "figure6.json").read_text())
    assert r["report"]["model"] == REAL_PRETRAINED[0] == report["model"]
    assert set(report["table"]) >= {"model", "copy-last", "dis", "farneback"}
    assert report["test_clips"] > 0 and (out / "figure6.png").is_file()
    assert r["video"].is_file() and r["video"].stat().st_size > 0
    assert real_video(tmp_path / "none", tmp_path / "no-videos") is None  # nothing fetched


def test_digits_model_on_video_names_the_real_video_model(tmp_path, write_video, caplog):
    video = tmp_path / "v.avi"
    write_video(video, 6)
    ckpt = "pretrained:ae-convlstm-flow/moving-mnist"
    with caplog.at_level(logging.WARNING):
        assert (
            main(["predict", "--checkpoint", ckpt, str(video), "--out", str(tmp_path / "o")]) == 0
        )
    line = next(r.getMessage() for r in caplog.records if "may not fit" in r.getMessage())
    assert f"pretrained:{REAL_PRETRAINED[0]}/{REAL_PRETRAINED[1]} fits this input" in line
    header = {"model": "m", "train_config": {"data": "moving-mnist", "binarize": True}}
    assert "pretrained:ae-convlstm-pixelflow" in input_mismatch(header, "natural", channels=3)
