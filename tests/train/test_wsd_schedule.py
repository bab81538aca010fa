"""The ``wsd`` schedule (warm-up, stable, decay): planned by steps, or timed to --max-minutes
so that a budgeted run ends annealed."""

import json
import math
import types

import pytest

from vstm.cli import main
from vstm.errors import VstmError
from vstm.train.config import make_config, tiny_overrides
from vstm.train.schedule import COSINE_FLOOR


def _half_cosine(k: int, n: int) -> float:
    """Hand-rolled: the k-th of n decayed steps (1-based) as a fraction of the peak rate."""
    return COSINE_FLOOR + (1 - COSINE_FLOOR) * 0.5 * (1 + math.cos(math.pi * k / n))


def _train_lrs(out) -> list[float]:
    rows = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    return [r["lr"] for r in rows if r["kind"] == "train"]


def test_wsd_planned_by_steps_warms_up_holds_then_decays_the_last_share(tmp_path):
    out = tmp_path / "wsd"
    assert main([
        "train", "--tiny", "--steps", "10", "--lr", "0.01", "--schedule", "wsd",
        "--decay-fraction", "0.3", "--warmup-steps", "2", "--device", "cpu", "--out", str(out),
    ]) == 0  # fmt: skip
    want = [0.005, 0.01, 0.01, 0.01, 0.01, 0.01, 0.01]  # warm-up, then the stable rate
    want += [0.01 * _half_cosine(k, 3) for k in (1, 2, 3)]  # the last 3 of 10 steps
    assert _train_lrs(out) == pytest.approx(want)
    assert want[-1] == pytest.approx(0.01 * COSINE_FLOOR)
    header = json.loads((out / "last.json").read_text())
    assert header["trainer"]["decay"] is None  # planned from the steps, nothing timed
    assert header["train_config"]["schedule"] == "wsd"


def test_wsd_timed_to_the_budget_ends_the_run_annealed_and_resume_keeps_it(tmp_path, monkeypatch):
    """A fake clock: 1 s per training step, a one-minute budget, 100 steps planned. The decay
    is due once 48 s (80%) are spent, after step 48, and sized to what the remaining 12 s hold
    at 1 s per step, times the margin 0.95: 11 steps, so the run ends at step 59, before the
    budget stops it, at the floor rate."""
    import vstm.train.loop as loop

    clock = {"t": 0.0}
    monkeypatch.setattr(loop, "time", types.SimpleNamespace(monotonic=lambda: clock["t"]))
    forward_backward = loop.Trainer._forward_backward

    def one_second_per_step(self, batch, lr):
        clock["t"] += 1.0
        return forward_backward(self, batch, lr)

    monkeypatch.setattr(loop.Trainer, "_forward_backward", one_second_per_step)
    out = tmp_path / "timed"
    values = {**tiny_overrides(), "steps": 100, "epoch_sequences": 4000, "lr": 0.01,
              "schedule": "wsd", "max_minutes": 1.0, "device": "cpu", "precision": "fp32",
              "out": str(out)}  # fmt: skip
    loop.train(make_config(values))
    lrs = _train_lrs(out)
    assert len(lrs) == 59
    assert lrs[:48] == pytest.approx([0.01] * 48)
    assert lrs[48:] == pytest.approx([0.01 * _half_cosine(k, 11) for k in range(1, 12)])
    header = json.loads((out / "last.json").read_text())["trainer"]
    assert (header["step"], header["decay"], header["total_steps"]) == (59, [48, 11], 59)
    # resumed with a fresh budget, the run is done: it does not train past its decay
    loop.train(loop.resume_config(out, {"max_minutes": 1.0}), resume=True)
    assert json.loads((out / "last.json").read_text())["trainer"]["step"] == 59
    assert len(_train_lrs(out)) == 59


def test_decay_fraction_must_be_a_share_of_the_run():
    for bad in (0.0, 1.5):
        with pytest.raises(VstmError, match="decay_fraction"):
            make_config({"schedule": "wsd", "decay_fraction": bad})
