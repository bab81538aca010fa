"""Soak: kill -9 and SIGTERM a tiny training run at random points, resume it each time, and
check that it ends bit-identical to an uninterrupted run, with no traceback and no checkpoint
lost.

    python benchmarks/soak.py [--faults 50] [--steps 24] [--seed 0] [--out docs/results]

A round trains ``--steps`` tiny steps (a checkpoint every step) in a fresh folder, injecting
faults (SIGKILL or SIGTERM, chosen at random; one in five during start-up, the others at a
random moment after the launch has saved a step) and resuming after each,
until the run finishes; rounds repeat until ``--faults`` faults were injected. After each
fault the folder's checkpoint must still be readable and never older than before the fault.
Each finished round's weights are compared bit for bit with the uninterrupted run's.
Writes ``soak.md`` and ``soak.json`` to ``--out``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import random
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from safetensors.torch import load_file

from vstm.errors import VstmError
from vstm.train.checkpoint import read_checkpoint

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONHASHSEED": "0"}


def train_argv(out: Path, steps: int, resume: bool) -> list[str]:
    base = [sys.executable, "-m", "vstm", "train"]
    if resume:
        return [*base, "--resume", str(out)]
    return [*base, "--tiny", "--steps", str(steps), "--save-every", "1", "--out", str(out)]


def weights(path: Path) -> dict[str, torch.Tensor]:
    return {k: v for k, v in load_file(str(path)).items() if k.startswith("model.")}


def saved_step(out: Path) -> int | None:
    """The step of the checkpoint a resume would start from (None: no readable one)."""
    for name in ("last.safetensors", "previous.safetensors"):
        try:
            return read_checkpoint(out / name)[0]["trainer"]["step"]
        except VstmError:
            continue
    return None


def last_json_step(out: Path) -> int:
    """The step of ``last.json`` (cheap to poll; -1 while there is none)."""
    try:
        return int(json.loads((out / "last.json").read_text())["trainer"]["step"])
    except (OSError, ValueError, KeyError, TypeError):
        return -1


def wait_for(proc: subprocess.Popen, condition, timeout: float) -> None:
    """Wait until ``condition()`` holds, the process ends, or ``timeout`` seconds pass."""
    end = time.monotonic() + timeout
    while time.monotonic() < end and proc.poll() is None and not condition():
        time.sleep(0.02)


def machine() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--faults", type=int, default=50, help="faults to inject (default 50)")
    p.add_argument("--steps", type=int, default=24, help="steps per round (default 24)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="docs/results", help="where soak.md/json go")
    args = p.parse_args()
    rng = random.Random(args.seed)
    work = Path(tempfile.mkdtemp(prefix="vstm-soak-"))

    t0 = time.monotonic()
    ref = work / "reference"
    r = subprocess.run(train_argv(ref, args.steps, False), env=ENV, capture_output=True, text=True)
    if r.returncode != 0:
        print(r.stderr, file=sys.stderr)
        return 1
    ref_seconds = time.monotonic() - t0
    ref_weights = weights(ref / "last.safetensors")

    counts = {
        "faults": 0,
        "sigkill": 0,
        "sigterm": 0,
        "sigterm_clean_exits": 0,  # exit 143 with the checkpoint line
        "sigterm_before_handler": 0,  # landed during start-up: the default action ran
        "landed_after_finish": 0,  # the run ended before the signal arrived
        "launches": 0,
        "rounds": 0,
        "rounds_bit_identical": 0,
        "tracebacks": 0,
        "checkpoints_lost": 0,
        "unexpected_exits": 0,
    }
    events: list[str] = []
    while counts["faults"] < args.faults:
        counts["rounds"] += 1
        out = work / f"round{counts['rounds']}"
        done = False
        while not done:
            before = saved_step(out)
            argv = train_argv(out, args.steps, resume=before is not None)
            proc = subprocess.Popen(
                argv, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
            )
            counts["launches"] += 1
            inject = counts["faults"] < args.faults
            sig = rng.choice([signal.SIGKILL, signal.SIGTERM])
            if inject:
                if rng.random() < 0.2:  # during start-up (imports, data, model)
                    wait_for(proc, lambda: False, rng.uniform(0.0, 0.5) * ref_seconds)
                else:  # mid-training: once this launch has saved a step, at a random moment
                    start = before if before is not None else 0
                    wait_for(proc, lambda o=out, s=start: last_json_step(o) > s, 600)
                    wait_for(proc, lambda: False, rng.uniform(0.0, 1.5))
                if proc.poll() is None:
                    proc.send_signal(sig)
            _, err = proc.communicate(timeout=600)
            err = err.decode(errors="replace")
            if "Traceback" in err:
                counts["tracebacks"] += 1
                events.append(f"traceback (round {counts['rounds']}): {err[-400:]!r}")
            rc = proc.returncode
            if rc == 0:
                done = True
                if inject:
                    counts["landed_after_finish"] += 1
            elif inject and rc in (-signal.SIGKILL, -signal.SIGTERM, 128 + signal.SIGTERM):
                counts["faults"] += 1
                if sig == signal.SIGKILL:
                    counts["sigkill"] += 1
                else:
                    counts["sigterm"] += 1
                    if rc == 128 + signal.SIGTERM and "stopped by SIGTERM" in err:
                        counts["sigterm_clean_exits"] += 1
                    elif rc == -signal.SIGTERM:
                        counts["sigterm_before_handler"] += 1
            else:
                counts["unexpected_exits"] += 1
                events.append(f"exit {rc} (round {counts['rounds']}): {err[-400:]!r}")
                if counts["unexpected_exits"] > 5:
                    break
            after = saved_step(out)
            if before is not None and (after is None or after < before):
                counts["checkpoints_lost"] += 1
                events.append(f"checkpoint went from step {before} to {after}")
        if counts["unexpected_exits"] > 5:
            break
        got = weights(out / "last.safetensors")
        same = got.keys() == ref_weights.keys() and all(
            torch.equal(got[k], ref_weights[k]) for k in got
        )
        counts["rounds_bit_identical"] += int(same)
        print(f"round {counts['rounds']}: faults so far {counts['faults']}, identical {same}")

    total = time.monotonic() - t0
    cmd = "python benchmarks/soak.py " + shlex.join(sys.argv[1:])
    result = {
        "command": cmd.strip(),
        "machine": machine(),
        "cores": os.cpu_count(),
        "date": dt.date.today().isoformat(),
        "torch": torch.__version__,
        "steps_per_round": args.steps,
        "reference_seconds": round(ref_seconds, 1),
        "total_seconds": round(total, 1),
        **counts,
        "events": events,
    }
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "soak.json").write_text(json.dumps(result, indent=2) + "\n")
    rows = "\n".join(f"| {k} | {v} |" for k, v in counts.items())
    md = f"""# Soak: random kill -9 / SIGTERM during training, resumed each time

Command: `{result["command"]}` ({result["date"]}, {result["machine"]}, {result["cores"]} cores,
torch {result["torch"]}, shared with other jobs). Each round trains {args.steps} tiny steps
(`vstm train --tiny --save-every 1`) in a fresh folder; faults (SIGKILL or SIGTERM, at random;
1 in 5 during start-up, the rest at a random moment after the launch saved a step; an
uninterrupted run takes {result["reference_seconds"]} s) are injected and the run resumed
(`vstm train --resume`) until it finishes; its final weights are compared bit for bit with
the uninterrupted run's. Total {result["total_seconds"]} s.

| count | value |
|---|---|
{rows}

Targets: tracebacks 0, checkpoints lost 0, every round bit-identical.
{"Events: " + "; ".join(events) if events else "No unexpected events."}
"""
    (out_dir / "soak.md").write_text(md)
    print(md)
    ok = (
        counts["tracebacks"] == 0
        and counts["checkpoints_lost"] == 0
        and counts["rounds_bit_identical"] == counts["rounds"]
        and counts["unexpected_exits"] == 0
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
