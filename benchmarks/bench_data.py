"""Data throughput: Moving MNIST generation on one core, and video clip decoding.

Writes docs/results/data_throughput.md and .json. Target (issue 3): at least 1,000 Moving MNIST
sequences of 20 frames (64x64, 2 digits, with ground-truth motion) per second on one core.

    python benchmarks/bench_data.py [--seconds 2] [--repeats 3] [--out docs/results]

The process pins itself to one CPU (where the OS allows) and runs torch with one thread.
Each case runs ``--repeats`` times for ``--seconds``; the table gives the median and the best
(on a machine shared with other jobs the best is the closer estimate of the code's speed).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shlex
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from vstm.system import cpu_model

TARGET = 1000.0  # sequences per second, one core


def _rate(fn: Callable[[int], int], seconds: float) -> float:
    """Units per second of ``fn(i) -> units`` called repeatedly for ``seconds``."""
    fn(0)  # warm-up
    n, i, t0 = 0, 1, time.perf_counter()
    while (elapsed := time.perf_counter() - t0) < seconds:
        n += fn(i)
        i += 1
    return n / elapsed


def _measure(fn: Callable[[int], int], seconds: float, repeats: int) -> dict:
    rates = [_rate(fn, seconds) for _ in range(repeats)]
    return {"median": statistics.median(rates), "best": max(rates), "runs": rates}


def _square_video(path: Path, n: int = 200, size: int = 64) -> None:
    import av

    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=25)
        s.width = s.height = size
        s.pix_fmt = "yuv420p"
        for t in range(n):
            img = np.full((size, size, 3), 16, np.uint8)
            x = (3 * t) % (size - 12)
            img[20:32, x : x + 12] = 235
            for p in s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)


def run(seconds: float, repeats: int) -> dict:
    from vstm.data import MovingMNIST, VideoClips

    ds = MovingMNIST("train", num_sequences=10**9, seq_len=20, size=64, num_digits=2)
    cases: dict[str, dict] = {}

    def batch(bs: int) -> Callable[[int], int]:
        return lambda i: (ds.generate(range(i * bs, (i + 1) * bs)), bs)[1]

    cases["moving-mnist generate(), batch 16"] = _measure(batch(16), seconds, repeats)
    cases["moving-mnist generate(), batch 64"] = _measure(batch(64), seconds, repeats)
    cases["moving-mnist dataset[i], one at a time"] = _measure(
        lambda i: (ds[i], 1)[1], seconds, repeats
    )
    epoch = MovingMNIST("train", seq_len=20, size=64, num_digits=2)  # the paper's 10,000
    loader = torch.utils.data.DataLoader(epoch, batch_size=16, shuffle=True)
    it = iter(loader)
    cases["moving-mnist DataLoader(batch 16, shuffle, 0 workers)"] = _measure(
        lambda i: len(next(it)["frames"]), seconds, repeats
    )
    binary = MovingMNIST("train", num_sequences=10**9, binarize=True)
    cases["moving-mnist binarised, batch 16"] = _measure(
        lambda i: (binary.generate(range(i * 16, (i + 1) * 16)), 16)[1], seconds, repeats
    )
    with tempfile.TemporaryDirectory() as d:
        video = Path(d) / "square.mp4"
        _square_video(video)
        clips = VideoClips(video, seq_len=20, stride=7)
        order = np.random.default_rng(0).permutation(len(clips))
        cases["video clips 64x64 H.264, random order (sequences/s)"] = _measure(
            lambda i: (clips[int(order[i % len(order)])], 1)[1], seconds, repeats
        )
    return cases


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=2.0, help="seconds per run (default 2)")
    p.add_argument("--repeats", type=int, default=3, help="runs per case (default 3)")
    p.add_argument("--out", default="docs/results", help="folder for the .md and .json")
    args = p.parse_args(argv)

    pinned = None
    if hasattr(os, "sched_setaffinity"):
        cpu = min(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cpu})
        pinned = cpu
    torch.set_num_threads(1)
    cases = run(args.seconds, args.repeats)

    key = "moving-mnist generate(), batch 16"
    ok = cases[key]["median"] >= TARGET
    info = {
        "command": "python " + " ".join(shlex.quote(a) for a in sys.argv),
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": {
            "cpu": cpu_model(),
            "logical_cores": os.cpu_count(),
            "pinned_to_cpu": pinned,
            "torch_threads": torch.get_num_threads(),
            "load_average_1_5_15": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
            "platform": platform.platform(),
        },
        "versions": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "numpy": np.__version__,
            "av": __import__("av").__version__,
        },
        "setup": "Moving MNIST 64x64, 20 frames, 2 digits, speed 2-5 px/frame, float32 "
        "frames (T,1,H,W) + motion (T-1,2,H,W) + mask; units: sequences per second",
        "target_sequences_per_second": TARGET,
        "meets_target": ok,
        "cases": cases,
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    from vstm.io import atomic_write_text

    atomic_write_text(out / "data_throughput.json", json.dumps(info, indent=2) + "\n")
    m = info["machine"]
    lines = [
        "# Data throughput",
        "",
        f"Command: `{info['command']}`  ",
        f"Date: {info['date']}  ",
        f"Machine: {m['cpu']}, {m['logical_cores']} logical cores (pinned to CPU "
        f"{m['pinned_to_cpu']}, torch threads {m['torch_threads']}), load average "
        f"{', '.join(f'{x:.2f}' for x in m['load_average_1_5_15'] or [])} at the end "
        "(the machine is shared; the best run is the closer estimate)  ",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in info["versions"].items()),
        "",
        info["setup"] + ".",
        "",
        "| case | median seq/s | best seq/s |",
        "|---|---:|---:|",
    ]
    for name, c in cases.items():
        lines.append(f"| {name} | {c['median']:,.0f} | {c['best']:,.0f} |")
    verdict = "meets" if ok else "MISSES"
    lines += [
        "",
        f"Target: {TARGET:,.0f} sequences/s on one core ({key}, median): {verdict} it.",
        "",
    ]
    atomic_write_text(out / "data_throughput.md", "\n".join(lines))
    print("\n".join(lines))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
