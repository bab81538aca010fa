"""Tiny end-to-end runs of vstm train / eval / predict and their failure modes."""

import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest
import torch
from safetensors.torch import load_file

from vstm.cli import main

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONHASHSEED": "0"}


def vstm(*args, check=True, **kw):
    r = subprocess.run(
        [sys.executable, "-m", "vstm", *map(str, args)],
        capture_output=True,
        text=True,
        env=ENV,
        **kw,
    )
    if check and r.returncode != 0:
        raise AssertionError(f"vstm {args} failed:\n{r.stdout}\n{r.stderr}")
    return r


def weights(path):
    return {k: v for k, v in load_file(str(path)).items() if k.startswith("model.")}


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "tiny"
    assert main(["train", "--tiny", "--out", str(out), "--steps", "6", "--save-every", "3"]) == 0
    return out


def test_train_writes_checkpoints_config_and_metrics(tiny_run):
    names = {p.name for p in tiny_run.iterdir()}
    assert {"best.safetensors", "last.safetensors", "config.json", "metrics.jsonl"} <= names
    assert not [n for n in names if ".tmp" in n]
    cfg = json.loads((tiny_run / "config.json").read_text())
    assert cfg["steps"] == 6 and cfg["model_options"]["hidden_channels"] == 8
    rows = [json.loads(ln) for ln in (tiny_run / "metrics.jsonl").read_text().splitlines()]
    train_rows = [r for r in rows if r["kind"] == "train"]
    assert [r["step"] for r in train_rows] == [1, 2, 3, 4, 5, 6]
    assert all(r["loss"] > 0 and r["frames_per_s"] > 0 for r in train_rows)
    assert [r["step"] for r in rows if r["kind"] == "val"] == [3, 4, 6]  # saves + epoch end
    last = json.loads((tiny_run / "last.json").read_text())
    assert last["trainer"]["step"] == 6 and last["model"] == "ae-convlstm-flow"


def test_eval_prints_table_and_json(tiny_run, tmp_path, capsys):
    out = tmp_path / "e.json"
    assert (
        main(
            [
                "eval",
                "--checkpoint",
                str(tiny_run / "best.safetensors"),
                "--num",
                "8",
                "--context",
                "3",
                "--json",
                str(out),
            ]
        )
        == 0
    )
    text = capsys.readouterr().out
    assert "copy-last-frame" in text and "epe" in text
    res = json.loads(out.read_text())["results"]
    for row in res.values():
        assert row["sequences"] == 8
        assert 0 < row["bce"] < 5 and 0 <= row["mse"] <= 1 and -1 <= row["ssim"] <= 1
    assert res["copy-last-frame"]["epe"] > 0.5  # digits move: zero motion is wrong


def test_predict_writes_video_png_and_flo(tiny_run, tmp_path):
    av = pytest.importorskip("av")
    import numpy as np

    src = tmp_path / "in.mp4"
    with av.open(str(src), "w") as c:
        s = c.add_stream("mpeg4", rate=10)
        s.width, s.height, s.pix_fmt = 48, 40, "yuv420p"
        for t in range(6):
            img = np.zeros((40, 48, 3), np.uint8)
            img[10:20, 5 + 3 * t : 15 + 3 * t] = 255
            for p in s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    out = tmp_path / "pred"
    assert (
        main(
            [
                "predict",
                "--checkpoint",
                str(tiny_run / "best.safetensors"),
                str(src),
                "--out",
                str(out),
                "--png",
                "--flo",
                "--size",
                "native",
            ]
        )
        == 0
    )
    video = out / "in_predict.mp4"
    with av.open(str(video)) as c:
        decoded = list(c.decode(video=0))
    assert len(decoded) == 6 and decoded[0].width >= 3 * 48
    assert len(list((out / "frames").glob("*.png"))) == 6
    from vstm.viz import read_flo

    flo = read_flo(sorted((out / "flow").glob("*.flo"))[0])
    assert flo.shape == (2, 40, 48)


@pytest.mark.parametrize(
    "args,message",
    [
        (["train", "--tiny", "--data", "/nonexistent/video.mp4"], "/nonexistent/video.mp4"),
        (["train", "--tiny", "--device", "cuda:7"], "cuda"),
        (["train", "--tiny", "--device", "banana"], "device"),
        (["train", "--tiny", "--model-option", "hiden=3"], "unknown key"),
        (["eval", "--checkpoint", "/nonexistent.safetensors"], "does not exist"),
    ],
)
def test_bad_input_one_line_error(args, message, tmp_path):
    r = vstm(*args, "--out" if args[0] == "train" else "--json", tmp_path / "x", check=False)
    assert r.returncode == 2, r.stderr
    lines = [ln for ln in r.stderr.splitlines() if "error" in ln]
    assert len(lines) == 1 and message in lines[0], r.stderr
    assert "Traceback" not in r.stderr


def test_bad_checkpoints_on_the_command_line(tiny_run, tmp_path):
    truncated = tmp_path / "cut.safetensors"
    truncated.write_bytes((tiny_run / "last.safetensors").read_bytes()[:1000])
    pickled = tmp_path / "model.pt"
    torch.save({"w": torch.zeros(2)}, pickled)
    for ckpt, message in [(truncated, "truncated"), (pickled, "never unpickles")]:
        for cmd in (
            ["eval", "--checkpoint", ckpt],
            ["predict", "--checkpoint", ckpt, ckpt, "--out", tmp_path / "o"],
        ):
            r = vstm(*cmd, check=False)
            assert r.returncode == 2 and message in r.stderr, r.stderr
            assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr
    assert not (tmp_path / "o").exists()


def test_existing_run_is_not_overwritten(tiny_run):
    before = (tiny_run / "last.safetensors").read_bytes()
    r = vstm("train", "--tiny", "--out", tiny_run, check=False)
    assert r.returncode == 2 and "--resume" in r.stderr
    assert (tiny_run / "last.safetensors").read_bytes() == before


def test_nan_loss_stops_with_message_and_keeps_checkpoint(tmp_path):
    out = tmp_path / "nan"
    # an absurd learning rate: step 1 is finite, its update overflows the weights
    r = vstm(
        "train",
        "--tiny",
        "--out",
        out,
        "--steps",
        "4",
        "--save-every",
        "1",
        "--lr",
        "1e30",
        "--optimizer",
        "rmsprop",
        check=False,
    )
    assert r.returncode == 2
    err = [ln for ln in r.stderr.splitlines() if "error" in ln]
    assert len(err) == 1 and "diverged" in err[0] and "last.safetensors" in err[0]
    failed = int(re.search(r"at step (\d+)", err[0]).group(1))
    last = json.loads((out / "last.json").read_text())
    assert failed >= 2 and last["trainer"]["step"] == failed - 1  # saved every step until then
    assert weights(out / "last.safetensors")  # readable, not half-written


def test_resume_after_sigkill_matches_uninterrupted(tmp_path, kill_mid_run):
    common = ["train", "--tiny", "--steps", "12", "--save-every", "2", "--device", "cpu"]
    common += ["--precision", "fp32"]  # auto is bf16 on an AMX CPU (and may be on a Zen 4)
    full = tmp_path / "full"
    vstm(*common, "--out", full)
    part = tmp_path / "part"
    step = kill_mid_run(common, part, at_step=4)
    assert 4 <= step < 12, "the kill must land mid-run"
    vstm("train", "--resume", part)
    a, b = weights(full / "last.safetensors"), weights(part / "last.safetensors")
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    machines = json.loads((part / "last.json").read_text())["trainer"]["machines"]
    assert [m["from_step"] for m in machines] == [0, step]  # the start and the resume
    assert all(m["precision"] == "fp32" and m["processes"] == 1 for m in machines)  # pinned


@pytest.mark.parametrize("memory", ["auto", "fft"])
def test_ddp_two_processes_match_single_process(tmp_path, memory):
    common = ["--tiny", "--steps", "3", "--batch-size", "4", "--device", "cpu", "--save-every", "3"]
    if memory == "fft":  # the FFT memory's kernel gradient arrives once, after every time step
        for option in ("hidden_channels=8", "flow_kernel=5", "lstm_impl=fft"):
            common += ["--model-option", option]
    single = tmp_path / "single"
    vstm("train", *common, "--out", single)
    ddp = tmp_path / "ddp"
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc_per_node=2",
            "-m",
            "vstm",
            "train",
            *common,
            "--out",
            str(ddp),
        ],
        capture_output=True,
        text=True,
        env=ENV,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    # each checkpoint all-gathers per-parameter checksums and fails if ranks disagree
    assert "2 ranks hold identical weights" in r.stderr
    got, ref = weights(ddp / "last.safetensors"), weights(single / "last.safetensors")
    assert ref["model.flow.conv3.weight"].abs().max() > 0  # trained away from its zero init
    for k in ref:
        assert torch.allclose(got[k], ref[k], atol=1e-5, rtol=1e-4), k
    rows = (ddp / "metrics.jsonl").read_text().splitlines()
    assert len([r for r in rows if '"train"' in r]) == 3  # one writer: rank 0


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


def _rank_of(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            env = dict(x.split(b"=", 1) for x in f.read().split(b"\0") if b"=" in x)
    except OSError:
        return None
    return int(env[b"RANK"]) if b"RANK" in env else None


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="reads /proc to find ranks")
def test_ddp_a_dead_rank_stops_the_others_and_the_run_resumes(tmp_path):
    """SIGKILL one of two ranks mid-run: the launcher stops the other within seconds (nothing
    hangs on a collective), no rank prints a traceback, the last checkpoint stays readable and
    the run resumes from it."""
    out = tmp_path / "ddp"
    argv = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    argv += ["-m", "vstm", "train", "--tiny", "--steps", "24", "--batch-size", "4"]
    argv += ["--device", "cpu", "--save-every", "2", "--out", str(out)]
    proc = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=ENV
    )
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and proc.poll() is None:
            metrics = out / "metrics.jsonl"
            if metrics.exists() and metrics.read_text().count('"train"') >= 6:
                break
            time.sleep(0.1)
        ranks = {_rank_of(c): c for c in _children(proc.pid)}
        assert set(ranks) == {0, 1}, "both ranks must be running when the fault lands"
        os.kill(ranks[1], signal.SIGKILL)
        output, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode != 0
    assert all(
        not os.path.exists(f"/proc/{pid}") or _rank_of(pid) is None for pid in ranks.values()
    )
    # torchrun reports the failed child with its own traceback; the ranks print none
    assert output.count("Traceback") <= output.count("ChildFailedError"), output[-3000:]
    step = json.loads((out / "last.json").read_text())["trainer"]["step"]
    assert 2 <= step < 24
    vstm("train", "--resume", out)
    assert json.loads((out / "last.json").read_text())["trainer"]["step"] == 24


def test_cosine_schedule_with_warmup_is_what_each_step_used(tmp_path):
    out = tmp_path / "cos"
    vstm(
        "train", "--tiny", "--steps", "4", "--lr", "0.01", "--schedule", "cosine",
        "--warmup-steps", "2", "--device", "cpu", "--out", out,
    )  # fmt: skip
    rows = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    lrs = [r["lr"] for r in rows if r["kind"] == "train"]
    assert lrs == pytest.approx([0.005, 0.01, 0.01, 0.0001])  # warm-up, peak, cosine to lr/100
    assert json.loads((out / "config.json").read_text())["schedule"] == "cosine"
