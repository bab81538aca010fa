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


def test_video_training_clips_start_at_every_frame_and_never_touch_validation(colour_video):
    from vstm.train.config import make_config
    from vstm.train.loop import build_datasets

    cfg = make_config(
        {"data": str(colour_video), "context": 4, "size": 32, "val_sequences": 4, "frame_step": 2}
    )
    train, val, endless = build_datasets(cfg, channels=3)
    clips = train.dataset
    assert not endless and clips.stride == 1
    # 100 frames, every 2nd: 50 subsampled frames; clips of 5 start at 46 places, and 10
    # fit side by side: one validation clip (a tenth of them)
    assert len(clips) == 46 and len(val) == 1
    frames = lambda i: set(range(clips.clip_start[i], clips.clip_start[i] + 9, 2))  # noqa: E731
    held = set().union(*(frames(i) for i in val.indices))
    assert train.indices and all(not (frames(i) & held) for i in train.indices)
    # every clip that shares no frame with validation is trained on
    assert len(train) == sum(1 for i in range(len(clips)) if not frames(i) & held)


def test_the_step_schedule_decays_per_epoch_sequences_on_a_small_video_set(colour_video):
    from vstm.train.config import make_config
    from vstm.train.loop import Trainer

    cfg = make_config(
        {"data": str(colour_video), "channels": 3, "size": 32, "context": 9, "batch_size": 4},
        {"model_options": {"hidden_channels": 8, "lstm_kernel": 3, "flow_kernel": 5}},
        {"lr": 1e-3, "lr_decay": 0.5, "decay_every": 1, "epoch_sequences": 400, "device": "cpu"},
    )
    trainer = Trainer(cfg)
    spe = trainer.steps_per_epoch  # a pass over this video: 81 clips, 20 steps
    assert spe == 20
    # the rate halves every 400 sequences (100 steps of 4), not every pass over the data
    steps = (0, spe, 3 * spe, 99, 100, 250)
    assert [trainer.lr_at(s) for s in steps] == [1e-3, 1e-3, 1e-3, 1e-3, 5e-4, 2.5e-4]
