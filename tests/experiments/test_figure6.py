"""``vstm reproduce figure6 --tiny``: held-out split, figure, table, resuming, bad input."""

import json
import logging

import numpy as np
import pytest
from PIL import Image

from vstm.cli import main
from vstm.experiments.figure6 import Figure6Settings, _train_config, heldout_clips
from vstm.train.loop import build_datasets

ROWS = ["model", "copy-last", "dis", "farneback", "dis-observed"]


@pytest.fixture(scope="module")
def folder(tmp_path_factory, write_video):
    """A small HMDB-style tree: two class folders, three videos of different lengths."""
    d = tmp_path_factory.mktemp("videos")
    (d / "walk").mkdir()
    (d / "run").mkdir()
    write_video(d / "walk" / "a.avi", 60, 0)
    write_video(d / "walk" / "b.avi", 50, 1)
    write_video(d / "run" / "c.avi", 70, 2)
    return d


@pytest.fixture(scope="module")
def tiny_run(folder, tmp_path_factory):
    out = tmp_path_factory.mktemp("fig6")
    assert main(["reproduce", "figure6", "--data", str(folder), "--out", str(out), "--tiny"]) == 0
    return out


def _frames(ds) -> set[tuple[str, int]]:
    """(source, frame number) of every source frame the clips of ``ds`` span."""
    base = getattr(ds, "dataset", ds)
    idx = getattr(ds, "indices", range(len(base)))
    used = set()
    for i in idx:
        src = base.sources[int(base.clip_source[i])].path
        start = int(base.clip_start[i])
        used |= {(src, k) for k in range(start, start + (base.seq_len - 1) * base.frame_step + 1)}
    return used


def test_heldout_frames_are_never_trained_on(folder, tmp_path):
    s = Figure6Settings(str(folder), str(tmp_path), holdout=0.25, context=3, size=32)
    train, val, _ = build_datasets(_train_config(s), 3)
    test = heldout_clips(
        str(folder), holdout=0.25, seq_len=4, size=32, channels=3, frame_step=s.frame_step
    )
    seen, tested = _frames(train) | _frames(val), _frames(test)
    assert seen and tested and not (seen & tested)
    assert len({src for src, _ in tested}) == 3  # every video contributes held-out clips


def test_figure6_writes_figure_and_table(tiny_run):
    report = json.loads((tiny_run / "figure6.json").read_text())
    table = report["table"]
    assert list(table) == ROWS
    for row in ROWS[:-1]:
        assert set(table[row]) >= {"mse", "psnr", "ssim", "movers_auc"}
        assert 0 <= table[row]["mse"] < 1 and np.isfinite(table[row]["psnr"])
    assert table["copy-last"]["movers_auc"] == 0.5  # zero motion separates nothing
    assert table["dis-observed"]["movers_auc"] > 0.6  # real flow finds the moving square
    assert report["test_frames_seen_in_training"] is False
    # held-out clips start at every held-out frame (--test-stride 1): the last 20% of 30, 25
    # and 35 subsampled frames are 6, 5 and 7 frames, i.e. 3, 2 and 4 clips of 4 frames
    assert report["test_clips"] == 9
    by = table["copy-last"]["by_source"]
    assert {k: v["clips"] for k, v in by.items()} == {"a.avi": 3, "b.avi": 2, "c.avi": 4}
    mean = sum(v["mse"] * v["clips"] for v in by.values()) / 9
    assert mean == pytest.approx(table["copy-last"]["mse"], rel=1e-9)
    img = np.asarray(Image.open(tiny_run / "figure6.png"))
    assert img.shape[0] > 3 * 32 and img.shape[1] > 6 * 32  # 3 rows; 6 columns
    md = (tiny_run / "figure6.md").read_text()
    assert "vstm reproduce figure6 --data" in md and "| copy last frame |" in md
    assert "| method | a.avi | b.avi | c.avi |" in md  # the per-video table
    assert {"best.safetensors", "last.safetensors", "reproduce.json"} <= {
        p.name for p in (tiny_run / "run").iterdir()
    }


def test_rerun_skips_finished_training(folder, tiny_run, caplog):
    before = (tiny_run / "run" / "last.safetensors").stat().st_mtime_ns
    with caplog.at_level(logging.INFO):
        argv = ["reproduce", "figure6", "--data", str(folder), "--out", str(tiny_run), "--tiny"]
        assert main(argv) == 0
    assert "finished earlier" in caplog.text
    assert (tiny_run / "run" / "last.safetensors").stat().st_mtime_ns == before


def test_checkpoint_trained_on_the_test_frames_is_flagged(folder, tmp_path, caplog):
    run = tmp_path / "all"
    argv = ["train", "--tiny", "--data", str(folder), "--channels", "3", "--steps", "1"]
    assert main([*argv, "--out", str(run)]) == 0
    out = tmp_path / "f"
    with caplog.at_level(logging.WARNING):
        argv = ["reproduce", "figure6", "--data", str(folder), "--out", str(out), "--tiny"]
        assert main([*argv, "--checkpoint", str(run / "best.safetensors")]) == 0
    assert json.loads((out / "figure6.json").read_text())["test_frames_seen_in_training"]
    assert "seen in training" in caplog.text
    assert "WARNING: the checkpoint was trained on these frames" in (out / "figure6.md").read_text()


def test_bad_input_is_one_line_and_writes_nothing(folder, tiny_run, tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("no video")
    out = tmp_path / "o"
    assert main(["reproduce", "figure6", "--data", str(empty), "--out", str(out), "--tiny"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "no videos or image frames" in err
    assert not out.exists()
    argv = ["reproduce", "figure6", "--data", str(folder), "--out", str(out), "--tiny"]
    ckpt = tiny_run / "run" / "best.safetensors"
    assert main([*argv, "--checkpoint", str(ckpt), "--channels", "1"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "pass --channels 3" in err
    assert not (out / "figure6.json").exists()


def test_baselines_only_scores_the_classical_rows(folder, tmp_path):
    out = tmp_path / "b"
    argv = ["reproduce", "figure6", "--data", str(folder), "--out", str(out), "--tiny"]
    assert main([*argv, "--baselines-only"]) == 0
    report = json.loads((out / "figure6.json").read_text())
    assert list(report["table"]) == ROWS[1:] and report["checkpoint"] is None
    assert not (out / "run").exists() and (out / "figure6.png").exists()
    assert "No model (--baselines-only)" in (out / "figure6.md").read_text()
