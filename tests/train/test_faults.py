"""Faults during training: preemption signals, a full disk, a corrupt last checkpoint, two runs
on one folder, a checkpoint header that claims gigabytes. Nothing finished is ever lost."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch
from safetensors.torch import load_file

from vstm.cli import main
from vstm.errors import VstmError
from vstm.train.checkpoint import read_checkpoint
from vstm.train.faults import RunLock
from vstm.train.metrics_log import read_metrics

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONHASHSEED": "0"}
COMMON = ["train", "--tiny", "--steps", "12", "--save-every", "100", "--device", "cpu"]


def weights(path):
    return {k: v for k, v in load_file(str(path)).items() if k.startswith("model.")}


def assert_same_weights(a, b):
    wa, wb = weights(a), weights(b)
    assert wa.keys() == wb.keys()
    for k in wa:
        assert torch.equal(wa[k], wb[k]), k


def trained_steps(run) -> int:
    """The last logged training step of a run still being written (0 before its first)."""
    return max((r["step"] for r in read_metrics(run, "train")), default=0)


@pytest.fixture(scope="module")
def full_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("full") / "run"
    assert main([*COMMON, "--out", str(out)]) == 0
    return out


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_writes_checkpoint_and_resume_is_bit_identical(sig, full_run, tmp_path):
    part = tmp_path / "part"
    proc = subprocess.Popen(
        [sys.executable, "-m", "vstm", *COMMON, "--out", str(part)],
        env=ENV,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while trained_steps(part) < 2 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.02)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + sig, err
    last_line = err.strip().splitlines()[-1]
    assert f"stopped by {signal.Signals(sig).name}" in last_line and "--resume" in last_line
    assert "Traceback" not in err, err
    step = json.loads((part / "last.json").read_text())["trainer"]["step"]
    assert 2 <= step < 12, "the signal must land mid-run"
    assert main(["train", "--resume", str(part)]) == 0
    assert_same_weights(full_run / "last.safetensors", part / "last.safetensors")


def _short_run(out, steps=4):
    argv = ["train", "--tiny", "--steps", str(steps), "--save-every", "2", "--out", str(out)]
    assert main(argv) == 0


def test_previous_checkpoint_is_kept(tmp_path):
    _short_run(tmp_path / "r")
    last, prev = read_checkpoint(tmp_path / "r" / "last.safetensors")[0], None
    prev = read_checkpoint(tmp_path / "r" / "previous.safetensors")[0]
    assert last["trainer"]["step"] == 4 and prev["trainer"]["step"] == 2


def test_disk_full_keeps_the_previous_checkpoint(tmp_path, monkeypatch, capsys):
    out = tmp_path / "r"
    _short_run(out)
    before = (out / "last.safetensors").read_bytes()

    def full_disk_writer(tensors, filename, metadata=None):
        with open(filename, "wb") as f:
            f.write(b"\0" * 1000)  # a partial write, then the disk is full
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), filename)

    monkeypatch.setattr("safetensors.torch.save_file", full_disk_writer)
    assert main(["train", "--resume", str(out), "--steps", "6"]) == 2
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if "error" in ln]
    assert len(lines) == 1 and "No space left" in lines[0] and "is kept" in lines[0], err
    assert (out / "last.safetensors").read_bytes() == before
    assert not [p.name for p in out.iterdir() if ".tmp" in p.name]


def test_corrupt_last_falls_back_to_previous(tmp_path, caplog):
    ref = tmp_path / "ref"
    _short_run(ref, steps=6)
    out = tmp_path / "r"
    _short_run(out)
    last = out / "last.safetensors"
    last.write_bytes(last.read_bytes()[:500])  # truncated, e.g. by a failing disk
    assert main(["train", "--resume", str(out), "--steps", "6"]) == 0
    warning = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert any("last.safetensors" in w and "previous.safetensors" in w for w in warning), warning
    assert (out / "last.safetensors.corrupt").exists()
    assert read_checkpoint(last)[0]["trainer"]["step"] == 6
    assert_same_weights(ref / "last.safetensors", last)


def test_corrupt_last_without_previous_is_one_line(tmp_path, capsys):
    out = tmp_path / "r"
    _short_run(out, steps=2)  # one checkpoint: no previous yet
    (out / "last.safetensors").write_bytes(b"garbage")
    assert main(["train", "--resume", str(out)]) == 2
    assert "truncated" in capsys.readouterr().err


def test_second_run_on_a_locked_folder_is_refused(tmp_path, capsys):
    out = tmp_path / "r"
    with RunLock(out):
        assert main(["train", "--tiny", "--steps", "1", "--out", str(out)]) == 2
        assert "in use by process" in capsys.readouterr().err
        assert not (out / "last.safetensors").exists()
    assert main(["train", "--tiny", "--steps", "1", "--out", str(out)]) == 0


def test_stale_lock_of_a_dead_process_does_not_block(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    out = tmp_path / "r"
    out.mkdir()
    (out / ".lock").write_text(f"{dead.pid}\n")  # left by a run that was killed
    assert main(["train", "--tiny", "--steps", "1", "--out", str(out)]) == 0


def test_failed_run_leaves_no_folder(tmp_path):
    out = tmp_path / "r"
    assert main(["train", "--tiny", "--data", str(tmp_path / "missing.mp4"), "--out", str(out)])
    assert not out.exists()


@pytest.mark.parametrize("claimed", [2**33, 2**62, 2**64 - 1])
def test_header_claiming_gigabytes_is_refused(tmp_path, claimed):
    path = tmp_path / "huge.safetensors"
    path.write_bytes(claimed.to_bytes(8, "little") + b'{"__metadata__":{}}')
    with pytest.raises(VstmError, match="header"):
        read_checkpoint(path)
