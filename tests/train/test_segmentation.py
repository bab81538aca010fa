"""Segmentation through the one Trainer: resume after SIGKILL, 2-process DDP, old configs."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from vstm.cli import main
from vstm.train.config import SEGMENT_DEFAULTS, make_config, tiny_segment_overrides

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONHASHSEED": "0"}
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "checkpoints"
TINY = ["--tiny", "--device", "cpu"]
for _o in ("seg_width=4", "seg_depth=2", "hidden_channels=4", "flow_kernel=3"):
    TINY += ["--model-option", _o]


def vstm(*args):
    r = subprocess.run(
        [sys.executable, "-m", "vstm", *map(str, args)], capture_output=True, text=True, env=ENV
    )
    assert r.returncode == 0, f"vstm {args} failed:\n{r.stdout}\n{r.stderr[-3000:]}"
    return r


def weights(path):
    return {k: v for k, v in load_file(str(path)).items() if k.startswith("model.")}


def test_resume_after_sigkill_matches_uninterrupted(tmp_path, kill_mid_run):
    common = ["segment", "train", *TINY, "--steps", "16", "--eval-every", "2"]
    full = tmp_path / "full"
    vstm(*common, "--out", full)
    part = tmp_path / "part"
    step = kill_mid_run(common, part, at_step=4)
    assert 4 <= step < 16, "the kill must land mid-run"
    vstm("segment", "train", "--resume", part)
    a, b = weights(full / "last.safetensors"), weights(part / "last.safetensors")
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    head = json.loads((part / "last.json").read_text())
    assert head["trainer"]["step"] == 16
    assert [m["from_step"] for m in head["trainer"]["machines"]] == [0, step]
    assert head["train_config"]["task"] == "segmentation"
    # the best checkpoint is the one of the highest class average, as in the full run
    best = [json.loads((r / "best.json").read_text())["trainer"] for r in (full, part)]
    assert best[0]["best"] == best[1]["best"] == best[0]["val"]["class_avg"]
    rows = [json.loads(x) for x in (part / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if r["kind"] == "train"] == list(range(1, 17))


def _reference_step(cfg):
    """One optimiser step as two DDP ranks take it: each half of the global batch through
    the model with its own BatchNorm statistics, the gradients averaged."""
    from torch.utils.data import default_collate

    from vstm.train.clips import GlobalBatches
    from vstm.train.loop import Trainer

    tr = Trainer(cfg)
    sampler = GlobalBatches(
        len(tr.train_set), cfg.batch_size, tr.steps_per_epoch, 1, 0, cfg.seed, False, 0, 1
    )
    rows = next(iter(sampler))
    half = cfg.batch_size // 2
    model, opt = tr.model, tr.optimizer
    before = {f"model.{k}": p.detach().clone() for k, p in model.named_parameters()}
    for g in opt.param_groups:
        g["lr"] = tr.lr_at(0) * g["lr_scale"]
    opt.zero_grad(set_to_none=True)
    start = {k: v.clone() for k, v in model.named_buffers()}
    for part in (rows[half:], rows[:half]):  # rank 1, then rank 0 (whose buffers are saved)
        for k, v in model.named_buffers():
            v.copy_(start[k])
        batch = default_collate([tr.train_set[i] for i in part])
        (tr.task.batch_loss(model, batch).total / 2).backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.clip_norm)
    opt.step()
    return before, {f"model.{k}": p.detach() for k, p in model.named_parameters()}


@pytest.mark.parametrize("model", ["segnet", "segnet-flow"])
def test_ddp_two_processes_match_the_same_step_taken_in_one(tmp_path, model):
    """Under DDP each rank's BatchNorm normalises its own half batch (CPU/gloo has no
    SyncBatchNorm), so the reference is one process taking the same two halves."""
    flags = ["--model", model, "--steps", "1", "--batch-size", "4", "--eval-every", "1"]
    options = ["depth=2"] if model == "segnet" else ["seg_depth=2", "hidden_channels=4"]
    argv = ["segment", "train", "--tiny", "--device", "cpu", *flags]
    for o in options:
        argv += ["--model-option", o]
    ddp = tmp_path / "ddp"
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    r = subprocess.run(
        [*torchrun, "-m", "vstm", *argv, "--out", str(ddp)],
        capture_output=True,
        text=True,
        env=ENV,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    assert "2 ranks hold identical weights" in r.stderr
    head = json.loads((ddp / "last.json").read_text())
    assert head["trainer"]["machines"][0]["processes"] == 2
    got = weights(ddp / "last.safetensors")
    model_options = dict(o.split("=") for o in options)
    cfg = make_config(
        SEGMENT_DEFAULTS,
        tiny_segment_overrides(),
        {"model": model, "steps": 1, "batch_size": 4, "device": "cpu"},
        {"model_options": {k: int(v) for k, v in model_options.items()}},
        {"out": str(tmp_path / "ref")},
    )
    before, ref = _reference_step(cfg)
    moved = [not torch.equal(before[k], ref[k]) for k in ref if k.endswith("weight")]
    assert sum(moved) > len(moved) // 2  # a real step (a zero-initialised head may wait)
    for k, v in ref.items():
        assert torch.allclose(got[k], v, atol=1e-5, rtol=1e-4), k
    rows = (ddp / "metrics.jsonl").read_text().splitlines()
    assert len([x for x in rows if '"train"' in x]) == 1  # one writer: rank 0


def test_old_segmentation_checkpoint_resumes_with_its_clip_as_a_norm(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    shutil.copy(FIXTURES / "segnet-flow.safetensors", run / "last.safetensors")
    assert main(["segment", "train", "--resume", str(run), "--steps", "4"]) == 0
    head = json.loads((run / "last.json").read_text())
    assert head["trainer"]["step"] == 4
    tc = head["train_config"]
    assert tc["task"] == "segmentation" and tc["context"] == 2  # seq_len 3
    assert tc["clip"] == 0 and tc["clip_norm"] == 5.0 and tc["save_every"] == 2


def test_old_segment_config_keys_map_to_the_one_config():
    cfg = make_config({"seq_len": 5, "clip": 2.0, "eval_every": 7, "recon_loss": "mse"})
    assert (cfg.task, cfg.context, cfg.clip, cfg.clip_norm) == ("segmentation", 4, 0.0, 2.0)
    assert (cfg.save_every, cfg.loss, cfg.lr_decay) == (7, "mse", 1.0)
    assert make_config({"clip": 2.0}).clip == 2.0  # today's keys: element-wise
